"""The prototype branch of ProC-KD (paper Eq. 1-6): everything ``λ_pro > 0`` adds."""
import copy
from typing import Dict, Optional

from mmrazor.registry import MODELS
from torch import Tensor, nn

from procd_mm.utils import InputError

from .dense_prototype_path import DensePrototypePath
from .prototype_path import PrototypePath


class PrototypeBranch(nn.Module):
    """The prototype module, the augmentation module, the projection, ``L_con`` and the
    path, built together (paper Eq. 1-6, Fig. 2; docs/method.md).

    On the teacher's level of the student level's stride, the prototype module gives
    ``O_pro = PL(F_T)`` (Eq. 1-2), at the teacher's width; a 1×1 ``teacher_projection`` maps
    it to the student's width where the two differ (SPEC §3.6). The augmentation module
    (Eq. 3-4) gives the teacher path ``Ô_T = Aug(O_pro, P)`` and the student path
    ``Ô_S = Aug(F_S, P)``; each replaces the student's level for its classifier, on the
    rows that read the level (:class:`PrototypePath` for RoI heads,
    :class:`DensePrototypePath` for dense heads): ``L_procls`` of both paths, and ``L_con``
    between the student path's and the plain student's class scores (Eq. 6). With
    ``feature_augmentation=None`` (the paper's "w/proto" ablation) the teacher path feeds
    ``O_pro`` itself, and there is no student path and no ``L_con``.

    Args:
        student: the student detector (its head is the path's).
        level (int): the student's neck output replaced.
        teacher_level (int): the teacher's neck output of the same stride.
        student_width, teacher_width (int): the two levels' channels.
        prototype_learning (dict): config of the prototype module (``in_channels`` is set).
        feature_augmentation (dict, optional): config of the augmentation module.
        con_loss (dict): config of ``L_con`` (``RoIConsistencyLoss`` for a two-stage student,
            ``DenseConsistencyLoss`` for a dense one).
    """

    def __init__(self, student: nn.Module, level: int, teacher_level: int, student_width: int,
                 teacher_width: int, prototype_learning: Dict,
                 feature_augmentation: Optional[Dict], con_loss: Dict) -> None:
        super().__init__()
        self.teacher_level = teacher_level
        # the prototypes live in the teacher's feature space, at its width
        self.prototype_learning = MODELS.build({'in_channels': teacher_width,
                                                **prototype_learning})
        # O_pro mapped to the student's width for the student's head (trained with the
        # student, dropped at export)
        self.teacher_projection = nn.Conv2d(teacher_width, student_width, 1) \
            if teacher_width != student_width else None
        self.feature_augmentation = MODELS.build(
            {'in_channels': student_width, 'prototype_channels': teacher_width,
             **feature_augmentation}) if feature_augmentation else None
        self.con_loss = MODELS.build(copy.deepcopy(con_loss)) if feature_augmentation else None
        two_stage = getattr(student, 'roi_head', None) is not None
        # not a module: it holds the student's own head, registered in the student
        self.path = (PrototypePath if two_stage else DensePrototypePath)(student, level)
        expected = 'RoIConsistencyLoss' if two_stage else 'DenseConsistencyLoss'
        if self.con_loss is not None and type(self.con_loss).__name__ != expected:
            raise InputError(f'ProCKD: con_loss {type(self.con_loss).__name__} does not fit a '
                             f'{"two-stage" if two_stage else "dense"} student; use {expected}')

    @property
    def level(self) -> int:
        """The student's neck output replaced."""
        return self.path.level

    def plain_pass(self):
        """Context of the plain student's loss: the path records what it needs."""
        return self.path.plain_pass()

    def forward(self, student_feats, teacher_feats, valid: Tensor,
                lambda_pro: float) -> Dict[str, Tensor]:
        """``λ_pro · L_pro`` on the level rows (paper Eq. 6); ``valid``: the teacher level's
        positions inside their images (padding takes no part in Eq. 1)."""
        path = self.path
        o_pro = self.prototype_learning(teacher_feats[self.teacher_level], valid)
        if self.teacher_projection is not None:
            o_pro = self.teacher_projection(o_pro)
        if self.feature_augmentation is None:  # "w/proto": the prototype module alone
            return dict(loss_procls_teacher=lambda_pro * path.cls_loss(
                path.logits(student_feats, o_pro)))
        prototypes = self.prototype_learning.prototypes
        teacher_path = path.logits(student_feats, self.feature_augmentation(o_pro, prototypes))
        student_path = path.logits(student_feats, self.feature_augmentation(
            student_feats[self.level], prototypes))
        return dict(loss_procls_teacher=lambda_pro * path.cls_loss(teacher_path),
                    loss_procls_student=lambda_pro * path.cls_loss(student_path),
                    loss_con=lambda_pro * path.con_loss(self.con_loss, student_path))

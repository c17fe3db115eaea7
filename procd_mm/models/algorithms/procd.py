"""The ProC-KD distillation algorithm for two-stage and dense detectors (paper Eq. 6-7)."""
from contextlib import nullcontext
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmrazor.models.algorithms import BaseAlgorithm
from mmrazor.models.task_modules import ModuleOutputsRecorder
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils import InputError
from procd_mm.utils.checks import check_non_negative_number

from .model_cfg import pretrained_checkpoint, resolve_model_cfg
from .padding import valid_positions
from .prototype_branch import PrototypeBranch
from .pyramid_levels import pyramid_levels
from .teacher_checkpoint import load_teacher_checkpoint
from .teacher_input import TeacherInput

PROTOTYPE_LEARNING = dict(type='PrototypeLearning', num_prototypes=72)
FEATURE_AUGMENTATION = dict(type='FeatureAugmentation')
CON_LOSS = dict(type='RoIConsistencyLoss', tau=1.0, detach_target=True)


@MODELS.register_module()
class ProCKD(BaseAlgorithm):
    """Prototype-guided cross-task distillation of a two-stage or dense (one-stage) detector.

    `arXiv 2212.13180 <https://arxiv.org/abs/2212.13180>`_, paper Eq. 7:
    ``L_total = λ_emb·L_emb + λ_pro·(L_con + L_procls) + λ_stu·L_stu``.

    * ``L_stu``: the student's own detection losses, computed by mmdet's
      ``TwoStageDetector.loss`` unchanged (RPN, every RoI stage, masks).
    * ``L_emb``: a pluggable feature term built from ``emb_loss`` (``CWDEmbeddingLoss``,
      ``FBODEmbeddingLoss``, ``SwinFBKDEmbeddingLoss``, ``ConfigurableEmbeddingLoss`` for any
      mmrazor feature loss, or None), logged as ``loss_emb_*``.
    * ``L_procls`` (Eq. 6): the student's RoI classifier on its pyramid with level
      ``prototype_level`` replaced, scored on the RoI rows that read that level only
      (:class:`PrototypePath`): by ``Ô_T = Aug(PL(P5_T), P)`` (teacher path, logged as
      ``loss_procls_teacher``) and by ``Ô_S = Aug(P5_S, P)`` (student path,
      ``loss_procls_student``). With ``feature_augmentation=None`` (the paper's
      "w/proto" ablation) the teacher path feeds ``PL(P5_T)`` itself and there is no
      student path and no ``L_con``.
    * ``L_con`` (Eq. 6): ``con_loss`` (:class:`RoIConsistencyLoss`) between the class
      logits of the student path and of the plain student on the same rows, logged as
      ``loss_con``.

    The teacher is frozen: built from ``teacher``, loaded from ``teacher_ckpt``
    (strictly unless ``teacher_strict=False``), ``requires_grad=False``, always in
    eval mode, and only its ``extract_feat`` runs, under ``torch.no_grad()``, on the
    batch in its own normalisation (:class:`TeacherInput`, converted from the
    student's when the two ``data_preprocessor`` differ). Batch padding takes no part
    in the prototype descriptor V (Eq. 1).
    The prototype modules, ``L_con`` and the path are one :class:`PrototypeBranch`
    (``prototype_branch``), built when ``λ_pro > 0``; ``λ_pro = 0`` gives the plain
    feature-distillation baselines (CWD, FBOD, FBKD) with ``prototype_branch=None``;
    ``emb_loss=None`` with ``λ_pro = 0`` is
    the student alone.

    Args:
        architecture (dict): the student detector config (mmdet two-stage detector).
        teacher (dict): the teacher detector config.
        teacher_ckpt (str, optional): teacher checkpoint; required unless
            ``teacher_strict=False`` (a random teacher is never used by accident).
        emb_loss (dict, optional): config of the ``L_emb`` term.
        prototype_level (int, optional): index of the student's neck output replaced;
            None (default) is its level of stride 32 (P5: index 3 of a Cascade R-CNN FPN,
            2 of RetinaNet's or RTMDet's). The teacher level is the one of the same stride.
        prototype_learning (dict): config of the prototype module (Eq. 1-2);
            ``in_channels`` defaults to the neck width.
        feature_augmentation (dict, optional): config of the augmentation module
            (Eq. 3-4); None for the "w/proto" ablation.
        con_loss (dict): config of ``L_con``.
        lambda_emb, lambda_pro, lambda_stu (float): weights of Eq. 7, each ≥ 0.
    """

    def __init__(self,
                 architecture: Union[BaseModel, Dict],
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 teacher_strict: bool = True,
                 emb_loss: Optional[Dict] = None,
                 prototype_level: Optional[int] = None,
                 prototype_learning: Dict = PROTOTYPE_LEARNING,
                 feature_augmentation: Optional[Dict] = FEATURE_AUGMENTATION,
                 con_loss: Dict = CON_LOSS,
                 lambda_emb: float = 1.0,
                 lambda_pro: float = 1.0,
                 lambda_stu: float = 1.0,
                 data_preprocessor: Optional[Union[Dict, torch.nn.Module]] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        for name, value in (('lambda_emb', lambda_emb), ('lambda_pro', lambda_pro),
                            ('lambda_stu', lambda_stu)):
            check_non_negative_number('ProCKD', name, value)
        super().__init__(resolve_model_cfg(architecture), data_preprocessor, init_cfg)
        teacher = resolve_model_cfg(teacher)
        teacher_ckpt = teacher_ckpt or pretrained_checkpoint(teacher)
        self.teacher = MODELS.build(teacher) if isinstance(teacher, dict) else teacher
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt, strict=teacher_strict)
        elif teacher_strict:
            raise InputError('ProCKD: teacher_ckpt is not set; distilling from a random '
                             'teacher needs teacher_strict=False')
        self.teacher._is_init = True  # keep runner.init_weights() off the loaded teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.teacher_input = TeacherInput(self.data_preprocessor, self.teacher.data_preprocessor)

        self.lambda_emb, self.lambda_pro, self.lambda_stu = lambda_emb, lambda_pro, lambda_stu
        self.emb_loss = MODELS.build(emb_loss) if emb_loss else None
        # (stride, width) of every neck output; a student level reads the teacher level of
        # its stride (SPEC §3.6), never the one of the same index
        self.student_levels = pyramid_levels(self.student)
        self.teacher_levels = pyramid_levels(self.teacher)
        teacher_strides = [stride for stride, _ in self.teacher_levels]
        self.level_map = [teacher_strides.index(stride) if stride in teacher_strides else None
                          for stride, _ in self.student_levels]
        if self.emb_loss is not None:
            self._check_emb_levels()
            self.emb_loss.attach(self.student, self.teacher)
        self.student_feats = ModuleOutputsRecorder('neck' if self.student.with_neck
                                                   else 'backbone')
        self.student_feats.initialize(self.student)

        # everything λ_pro > 0 adds, built whole or absent (None)
        self.prototype_branch = None
        if lambda_pro > 0:
            level, teacher_level = self._match_prototype_level(prototype_level)
            self.prototype_branch = PrototypeBranch(
                self.student, level, teacher_level, self.student_levels[level][1],
                self.teacher_levels[teacher_level][1], prototype_learning,
                feature_augmentation, con_loss)
        # checkpoints written before the branch was one module
        self._register_load_state_dict_pre_hook(_branch_keys)

    @property
    def student(self):
        """Alias for ``architecture``."""
        return self.architecture

    def _pyramids(self) -> str:
        return (f'student strides {[s for s, _ in self.student_levels]}, teacher strides '
                f'{[s for s, _ in self.teacher_levels]}')

    def _check_emb_levels(self) -> None:
        """Every level an ``L_emb`` term reads has a teacher level of its stride."""
        for level in getattr(self.emb_loss, 'levels', ()):
            if level < len(self.level_map) and self.level_map[level] is None:
                raise InputError(f'ProCKD: {type(self.emb_loss).__name__} reads student level '
                                 f'{level} (stride {self.student_levels[level][0]}), which has '
                                 f'no teacher level of that stride; {self._pyramids()}')

    def _teacher_feats_by_stride(self, teacher_feats):
        """The teacher's neck outputs re-indexed as the student's (None: no such stride)."""
        if self.level_map == list(range(len(teacher_feats))):
            return teacher_feats
        return [None if t is None else teacher_feats[t] for t in self.level_map]

    def _match_prototype_level(self, level: Optional[int]):
        """(student level, teacher level of the same stride) of the prototype path.

        ``level=None`` is the student's level of stride 32 (P5). Strides and widths are
        measured on the two models (SPEC §3.6: levels are matched by stride, never by index).
        """
        student = self.student_levels
        if level is None:
            strides = [stride for stride, _ in student]
            if 32 not in strides:
                raise InputError(f'ProCKD: the student pyramid (strides {strides}) has no level '
                                 'of stride 32; set prototype_level')
            level = strides.index(32)
        if isinstance(level, bool) or not isinstance(level, int) \
                or not 0 <= level < len(student):
            raise InputError(f'ProCKD: prototype_level={level!r} must be an index of the student '
                             f'neck outputs, in [0, {len(student)})')
        stride = student[level][0]
        teacher_level = self.level_map[level]
        if teacher_level is None:
            raise InputError(f'ProCKD: the student level {level} (stride {stride}) has no teacher '
                             f'level of that stride; {self._pyramids()}')
        return level, teacher_level

    def train(self, mode: bool = True):
        """Train the student and distillation modules; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def loss(self, batch_inputs: Tensor, data_samples: List) -> Dict[str, Tensor]:
        # L_emb terms built on recorders record only inside these contexts (nullcontext else)
        emb_loss = self.emb_loss if self.lambda_emb > 0 else None
        teacher_inputs = self.teacher_input(batch_inputs, data_samples)
        with torch.no_grad(), getattr(emb_loss, 'teacher_recording', nullcontext)():
            teacher_feats = self.teacher.extract_feat(teacher_inputs)
        branch = self.prototype_branch
        with self.student_feats, getattr(emb_loss, 'student_recording', nullcontext)(), \
                (branch.plain_pass() if branch is not None else nullcontext()):
            student_losses = self.student.loss(batch_inputs, data_samples)
        student_feats = self.student_feats.get_record_data()

        losses = {k: _scale(v, self.lambda_stu) if 'loss' in k else v
                  for k, v in student_losses.items()}
        if self.emb_loss is not None and self.lambda_emb > 0:
            for name, value in self.emb_loss(student_feats,
                                             self._teacher_feats_by_stride(teacher_feats)).items():
                losses[name] = self.lambda_emb * value
        if branch is not None:
            valid = valid_positions(data_samples, teacher_inputs.shape[-2:],
                                    teacher_feats[branch.teacher_level].shape[-2:],
                                    teacher_inputs.device)
            losses.update(branch(student_feats, teacher_feats, valid, self.lambda_pro))
        return losses


def _branch_keys(state_dict, prefix, *args) -> None:
    """Rename the keys of the prototype modules of an older checkpoint
    (``prototype_learning.*`` to ``prototype_branch.prototype_learning.*``, ...)."""
    for name in ('prototype_learning', 'teacher_projection', 'feature_augmentation',
                 'con_loss'):
        old = f'{prefix}{name}.'
        for key in [k for k in state_dict if k.startswith(old)]:
            state_dict[f'{prefix}prototype_branch.{key[len(prefix):]}'] = state_dict.pop(key)


def _scale(value, weight: float):
    """Scale a loss that mmdet may return per level (a list) or as one tensor."""
    return [v * weight for v in value] if isinstance(value, (list, tuple)) else value * weight

"""The ProC-KD distillation algorithm for two-stage detectors (paper Eq. 6-7, SPEC §2-3)."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmrazor.models.algorithms import BaseAlgorithm
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.engine.launch import InputError

from ..feature_augmentation import FeatureAugmentation
from ..losses import RoIConsistencyLoss
from ..prototype_learning import PrototypeLearning
from .level_replaced_heads import LevelReplacedHeads
from .model_cfg import resolve_model_cfg
from .teacher_checkpoint import load_teacher_checkpoint


@MODELS.register_module()
class ProCKD(BaseAlgorithm):
    """Prototype-guided cross-task distillation of a two-stage detector.

    ``L_total = λ_emb·L_emb + λ_pro·(L_con + L_procls) + λ_stu·L_stu`` (paper Eq. 6-7).

    * ``L_stu``: the student's own detection losses (RPN, every RoI stage, masks).
    * ``L_emb``: a pluggable feature term built from ``emb_loss`` (``CWDEmbeddingLoss``,
      ``FBODEmbeddingLoss``, ``SwinFBKDEmbeddingLoss`` or None), logged as ``loss_emb_*``.
    * ``L_procls`` (SPEC §3.3): the student's heads on its pyramid with level
      ``prototype_level`` replaced by ``Ô_T = Aug(PL(P5_T), P)`` (teacher path) and,
      unless ``augment_student=False`` (the paper's "w/proto" ablation), by
      ``Ô_S = Aug(P5_S, P)`` (student path); logged as ``loss_procls_teacher`` and
      ``loss_procls_student``.
    * ``L_con``: :class:`RoIConsistencyLoss` between the RoI class logits of the
      student path and of the plain student on identical RoIs, logged as ``loss_con``.

    The teacher is frozen: built from ``teacher``, loaded from ``teacher_ckpt``
    (strictly unless ``teacher_strict=False``), ``requires_grad=False``, always in
    eval mode, and only its ``extract_feat`` runs, under ``torch.no_grad()``.
    ``λ_pro = 0`` gives the plain feature-distillation baselines (CWD, FBOD, FBKD)
    without building the prototype modules; ``emb_loss=None`` with ``λ_pro = 0`` is
    the student alone.

    Args:
        architecture (dict): the student detector config (mmdet two-stage detector).
        teacher (dict): the teacher detector config.
        teacher_ckpt (str, optional): teacher checkpoint; required unless
            ``teacher_strict=False`` (a random teacher is never used by accident).
        emb_loss (dict, optional): config of the ``L_emb`` term.
        prototype_level (int): index of the FPN output replaced (3 = P5).
        num_prototypes (int): n, the number of prototypes.
        lambda_emb, lambda_pro, lambda_stu (float): weights of Eq. 7.
        tau_con (float): temperature of ``L_con``.
        detach_target (bool): ``L_con`` treats the augmented logits as a fixed target.
        augment_student (bool): False for the "w/proto" ablation (no Ô_S, no L_con).
    """

    def __init__(self,
                 architecture: Union[BaseModel, Dict],
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 teacher_strict: bool = True,
                 emb_loss: Optional[Dict] = None,
                 prototype_level: int = 3,
                 num_prototypes: int = 72,
                 lambda_emb: float = 1.0,
                 lambda_pro: float = 1.0,
                 lambda_stu: float = 1.0,
                 tau_con: float = 1.0,
                 detach_target: bool = True,
                 augment_student: bool = True,
                 data_preprocessor: Optional[Union[Dict, torch.nn.Module]] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(resolve_model_cfg(architecture), data_preprocessor, init_cfg)
        teacher = resolve_model_cfg(teacher)
        self.teacher = MODELS.build(teacher) if isinstance(teacher, dict) else teacher
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt, strict=teacher_strict)
        elif teacher_strict:
            raise InputError('ProCKD: teacher_ckpt is not set; distilling from a random '
                             'teacher needs teacher_strict=False')
        self.teacher._is_init = True  # keep runner.init_weights() off the loaded teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()

        self.lambda_emb, self.lambda_pro, self.lambda_stu = lambda_emb, lambda_pro, lambda_stu
        self.emb_loss = MODELS.build(emb_loss) if emb_loss else None
        if self.emb_loss is not None:
            self.emb_loss.attach(self.student, self.teacher)

        self.prototype_level = prototype_level
        self.augment_student = augment_student
        if lambda_pro > 0:
            channels = self._check_prototype_level(prototype_level)
            self.prototype_learning = PrototypeLearning(channels, num_prototypes)
            self.feature_augmentation = FeatureAugmentation(channels)
            self.con_loss = RoIConsistencyLoss(tau_con, detach_target)
        self.heads = LevelReplacedHeads(self.student, prototype_level)

    @property
    def student(self):
        """Alias for ``architecture``."""
        return self.architecture

    def _check_prototype_level(self, level: int) -> int:
        widths = {}
        for name, det in (('student', self.student), ('teacher', self.teacher)):
            neck = getattr(det, 'neck', None)
            num_outs = getattr(neck, 'num_outs', None)
            if num_outs is not None and level >= num_outs:
                raise InputError(f'ProCKD: prototype_level={level} but the {name} neck has '
                                 f'{num_outs} outputs')
            widths[name] = getattr(neck, 'out_channels', None)
        if widths['student'] != widths['teacher']:
            raise InputError(f'ProCKD: the prototype path needs equal widths on FPN level '
                             f'{level}: student {widths["student"]} channels, teacher '
                             f'{widths["teacher"]} channels')
        return widths['student']

    def train(self, mode: bool = True):
        """Train the student and distillation modules; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def loss(self, batch_inputs: Tensor, data_samples: List) -> Dict[str, Tensor]:
        with torch.no_grad():
            teacher_feats = self.teacher.extract_feat(batch_inputs)
        student_feats = self.student.extract_feat(batch_inputs)

        replacements = []
        if self.lambda_pro > 0:
            prototypes = self.prototype_learning.prototypes
            level = self.prototype_level
            o_pro = self.prototype_learning(teacher_feats[level])
            replacements.append(self.feature_augmentation(o_pro, prototypes))
            if self.augment_student:
                replacements.append(self.feature_augmentation(student_feats[level], prototypes))
        plain, paths = self.heads(student_feats, replacements, data_samples)

        losses = {k: _scale(v, self.lambda_stu) if 'loss' in k else v
                  for k, v in plain.losses.items()}
        if self.emb_loss is not None and self.lambda_emb > 0:
            for name, value in self.emb_loss(student_feats, teacher_feats).items():
                losses[name] = self.lambda_emb * value
        if paths:
            losses['loss_procls_teacher'] = self.lambda_pro * _sum_losses(paths[0].losses)
        if len(paths) > 1:
            losses['loss_procls_student'] = self.lambda_pro * _sum_losses(paths[1].losses)
            losses['loss_con'] = self.lambda_pro * self.con_loss(paths[1].cls_scores,
                                                                 plain.cls_scores)
        return losses


def _scale(value, weight: float):
    """Scale a loss that mmdet may return per level (a list) or as one tensor."""
    return [v * weight for v in value] if isinstance(value, (list, tuple)) else value * weight


def _sum_losses(losses: Dict[str, Tensor]) -> Tensor:
    """Sum of the loss terms, as mmengine's ``parse_losses`` adds them."""
    return sum(sum(v) if isinstance(v, (list, tuple)) else v
               for k, v in losses.items() if 'loss' in k)

"""Feature-based detector distillation on FPN levels (``L_emb`` kind ``fbod``, docs/method.md)."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmrazor.models.architectures.connectors import FBKDStudentConnector, FBKDTeacherConnector
from mmrazor.models.losses import FBKDLoss
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils import InputError
from procd_mm.utils.checks import check_choice, check_positive_int, check_positive_number

from ._utils import (
    as_index_tuple,
    check_levels_exist,
    check_weight,
    neck_spec,
    per_level,
    select_levels,
)

OWNER = 'FBODEmbeddingLoss'


@MODELS.register_module()
class FBODEmbeddingLoss(BaseModule):
    """Zhang & Ma (ICLR 2021) feature distillation as ``L_emb`` (paper Eq. 7, kind ``fbod``).

    Per selected FPN level, as mmrazor's
    ``fbkd_fpn_faster-rcnn_r101_faster-rcnn_r50_1x_coco.py``: an
    :class:`FBKDStudentConnector` on the student map, an
    :class:`FBKDTeacherConnector` on the (detached) teacher map and
    :class:`FBKDLoss` (attention-masked feature loss with spatial / channel
    attention at temperature 0.5, pooled-attention losses, non-local relation
    loss). Both connectors hold parameters and belong to this module, so they
    are trained with the student (the teacher connector's non-local block
    learns through the relation loss); only the teacher detector is frozen.
    The connectors run in the ambient precision (autocast applies); their
    outputs are cast to float32 for the loss.

    Args:
        in_channels (int): FPN width of both detectors. Defaults to 256.
        levels (Sequence[int]): Indices into the neck outputs. Defaults to
            ``(0, 1, 2, 3)``, the four ``fpn_convs`` outputs of mmrazor's config.
        reductions (int | Sequence[int]): Non-local channel reduction per level.
            Defaults to ``(4, 4, 2, 2)``.
        maxpool_strides (int | Sequence[int]): Non-local key/value max-pool
            stride per level (with ``sub_sample``). Defaults to ``(8, 4, 2, 2)``.
        mode (str): Non-local pairwise function. Defaults to ``'dot_product'``.
        sub_sample (bool): Max-pool keys/values in the non-local blocks.
            Defaults to True.
        spatial_T (float): Spatial attention temperature. Defaults to 0.5.
        channel_T (float): Channel attention temperature. Defaults to 0.5.
        loss_weights (float | Sequence[float]): Weight per level. Defaults to 1.0.
        mask_l2_weight, channel_weight, spatial_weight, nonlocal_weight (float):
            :class:`FBKDLoss` term weights; defaults are the reference
            implementation's (7e-5, 4e-3, 4e-3, 7e-5).
        init_cfg (dict, optional): mmengine initialisation config.

    Returns from :meth:`forward`: ``{'loss_emb_fbod_p{i}': Tensor}`` for each
    level index i in ``levels``.
    """

    def __init__(self,
                 in_channels: int = 256,
                 levels: Sequence[int] = (0, 1, 2, 3),
                 reductions: Union[int, Sequence[int]] = (4, 4, 2, 2),
                 maxpool_strides: Union[int, Sequence[int]] = (8, 4, 2, 2),
                 mode: str = 'dot_product',
                 sub_sample: bool = True,
                 spatial_T: float = 0.5,
                 channel_T: float = 0.5,
                 loss_weights: Union[float, Sequence[float]] = 1.0,
                 mask_l2_weight: float = 7e-5,
                 channel_weight: float = 4e-3,
                 spatial_weight: float = 4e-3,
                 nonlocal_weight: float = 7e-5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_int(OWNER, 'in_channels', in_channels)
        check_choice(OWNER, 'mode', mode,
                     ('dot_product', 'embedded_gaussian', 'gaussian', 'concatenation'))
        for name, value in (('spatial_T', spatial_T), ('channel_T', channel_T)):
            check_positive_number(OWNER, name, value)
        self.in_channels = in_channels
        self.levels = as_index_tuple(levels, 'levels', OWNER)
        self.reductions = per_level(reductions, self.levels, 'reductions', OWNER)
        self.maxpool_strides = per_level(maxpool_strides, self.levels, 'maxpool_strides', OWNER)
        for name, values in (('reductions', self.reductions),
                             ('maxpool_strides', self.maxpool_strides)):
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                    raise InputError(f'{OWNER}: {name} must hold positive ints, got {values!r}')
        for r in self.reductions:
            if in_channels // r == 0:
                raise InputError(f'{OWNER}: reduction {r} leaves no channels of '
                                 f'in_channels={in_channels}')
        self.sub_sample = bool(sub_sample)
        weights = per_level(loss_weights, self.levels, 'loss_weights', OWNER)
        self.loss_weights = tuple(check_weight(w, 'loss_weights', OWNER) for w in weights)
        term_weights = dict(
            mask_l2_weight=check_weight(mask_l2_weight, 'mask_l2_weight', OWNER),
            channel_weight=check_weight(channel_weight, 'channel_weight', OWNER),
            spatial_weight=check_weight(spatial_weight, 'spatial_weight', OWNER),
            nonloacl_weight=check_weight(nonlocal_weight, 'nonlocal_weight', OWNER))

        self.student_connectors = nn.ModuleDict()
        self.teacher_connectors = nn.ModuleDict()
        self.losses = nn.ModuleDict()
        for level, reduction, stride, weight in zip(self.levels, self.reductions,
                                                    self.maxpool_strides, self.loss_weights):
            connector_cfg = dict(in_channels=in_channels, reduction=reduction, mode=mode,
                                 sub_sample=self.sub_sample, maxpool_stride=stride,
                                 spatial_T=spatial_T, channel_T=channel_T)
            self.student_connectors[str(level)] = FBKDStudentConnector(**connector_cfg)
            self.teacher_connectors[str(level)] = FBKDTeacherConnector(**connector_cfg)
            self.losses[str(level)] = FBKDLoss(loss_weight=weight, **term_weights)

    def attach(self, student: nn.Module, teacher: nn.Module) -> None:
        """Check both necks have ``in_channels`` outputs and the selected levels."""
        for role, detector in (('student', student), ('teacher', teacher)):
            channels, num_outs = neck_spec(detector, role, OWNER)
            check_levels_exist(num_outs, self.levels, role, OWNER)
            if channels is not None and channels != self.in_channels:
                raise InputError(f'{OWNER}.attach: the {role} neck has out_channels={channels} '
                                 f'but in_channels={self.in_channels}')

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """FBKD loss per selected level; returns ``loss_emb_fbod_p{i}``."""
        losses = {}
        for (level, s, t), stride in zip(
                select_levels(student_feats, teacher_feats, self.levels, OWNER),
                self.maxpool_strides):
            if s.shape[1] != self.in_channels or t.shape[1] != self.in_channels:
                raise ValueError(f'{OWNER}: level {level} student width {s.shape[1]} and teacher '
                                 f'width {t.shape[1]} must both equal in_channels='
                                 f'{self.in_channels}')
            if self.sub_sample and min(s.shape[2:]) < stride:
                raise ValueError(f'{OWNER}: level {level} map {tuple(s.shape[2:])} is smaller '
                                 f'than its non-local maxpool stride {stride}')
            key = str(level)
            s_out = self.student_connectors[key](s)
            t_out = self.teacher_connectors[key](t.detach())
            with torch.autocast(device_type=s.device.type, enabled=False):
                s_out = tuple(o.float() for o in s_out)
                t_out = tuple(o.float() for o in t_out)
                losses[f'loss_emb_fbod_p{level}'] = self.losses[key](s_out, t_out)
        return losses

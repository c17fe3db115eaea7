"""Channel-wise distillation on the FPN outputs (``L_emb`` kind ``cwd``, docs/method.md)."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmrazor.models.losses import ChannelWiseDivergence
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils import InputError
from procd_mm.utils.checks import check_positive_int, check_positive_number

from ._utils import (
    as_index_tuple,
    check_levels_exist,
    check_weight,
    neck_spec,
    per_level,
    select_levels,
)

OWNER = 'CWDEmbeddingLoss'


@MODELS.register_module()
class CWDEmbeddingLoss(BaseModule):
    """Channel-wise distillation (Shu et al. 2021) as ``L_emb`` (paper Eq. 7, kind ``cwd``).

    For every selected FPN level i, mmrazor's :class:`ChannelWiseDivergence`:
    per channel, softmax over the H*W positions at temperature ``tau``,
    ``KL(teacher || student) * tau^2``, summed and divided by N*C, times the
    level's weight. Computed in float32 (autocast disabled). The teacher maps
    are detached (they are the target).

    Args:
        tau (float): Temperature. Defaults to 1.0.
        loss_weights (float | Sequence[float]): Weight per level; a number
            applies to all. Defaults to 10.0, as in mmrazor's
            ``cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py``.
        levels (Sequence[int]): Indices into the neck outputs.
            Defaults to all five levels ``(0, 1, 2, 3, 4)``.
        use_connector (bool): Map each student level with a learnable 1x1
            conv from ``student_channels`` to ``teacher_channels`` before the
            loss. Without it, student and teacher widths must be equal.
        student_channels (int, optional): Student FPN width (required with
            ``use_connector``; otherwise checked against the neck in
            :meth:`attach` when given).
        teacher_channels (int, optional): Teacher FPN width, likewise.
        init_cfg (dict, optional): mmengine initialisation config.

    Returns from :meth:`forward`: ``{'loss_emb_cwd_p{i}': Tensor}`` for each
    level index i in ``levels``.
    """

    def __init__(self,
                 tau: float = 1.0,
                 loss_weights: Union[float, Sequence[float]] = 10.0,
                 levels: Sequence[int] = (0, 1, 2, 3, 4),
                 use_connector: bool = False,
                 student_channels: Optional[int] = None,
                 teacher_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_number(OWNER, 'tau', tau)
        self.tau = float(tau)
        self.levels = as_index_tuple(levels, 'levels', OWNER)
        weights = per_level(loss_weights, self.levels, 'loss_weights', OWNER)
        self.loss_weights = tuple(check_weight(w, 'loss_weights', OWNER) for w in weights)
        for name, value in (('student_channels', student_channels),
                            ('teacher_channels', teacher_channels)):
            if value is not None:
                check_positive_int(OWNER, name, value)
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.use_connector = bool(use_connector)

        self.cwd = nn.ModuleDict({
            str(level): ChannelWiseDivergence(tau=self.tau, loss_weight=weight)
            for level, weight in zip(self.levels, self.loss_weights)
        })
        if self.use_connector:
            if student_channels is None or teacher_channels is None:
                raise InputError(f'{OWNER}: use_connector=True needs student_channels and '
                                 f'teacher_channels, got {student_channels!r} and '
                                 f'{teacher_channels!r}')
            self.connectors = nn.ModuleDict({
                str(level): nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
                for level in self.levels
            })
        else:
            self.connectors = None
            if (student_channels is not None and teacher_channels is not None
                    and student_channels != teacher_channels):
                raise InputError(f'{OWNER}: student width {student_channels} != teacher width '
                                 f'{teacher_channels}; set use_connector=True to map them')

    def attach(self, student: nn.Module, teacher: nn.Module) -> None:
        """Check the necks' widths and level counts; CWD needs no hooks."""
        s_ch, s_outs = neck_spec(student, 'student', OWNER)
        t_ch, t_outs = neck_spec(teacher, 'teacher', OWNER)
        check_levels_exist(s_outs, self.levels, 'student', OWNER)
        check_levels_exist(t_outs, self.levels, 'teacher', OWNER)
        for role, declared, found in (('student', self.student_channels, s_ch),
                                      ('teacher', self.teacher_channels, t_ch)):
            if declared is not None and found is not None and declared != found:
                raise InputError(f'{OWNER}.attach: {role}_channels={declared} but the {role} '
                                 f'neck has out_channels={found}')
        if not self.use_connector and s_ch is not None and t_ch is not None and s_ch != t_ch:
            raise InputError(f'{OWNER}.attach: student FPN width {s_ch} != teacher FPN width '
                             f'{t_ch}; set use_connector=True with student_channels={s_ch}, '
                             f'teacher_channels={t_ch}')

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """CWD per selected level; returns ``loss_emb_cwd_p{i}``."""
        losses = {}
        for level, s, t in select_levels(student_feats, teacher_feats, self.levels, OWNER):
            if self.connectors is not None:
                if s.shape[1] != self.student_channels:
                    raise ValueError(f'{OWNER}: level {level} student width {s.shape[1]} != '
                                     f'student_channels={self.student_channels}')
                s = self.connectors[str(level)](s)
            if s.shape[1] != t.shape[1]:
                raise ValueError(f'{OWNER}: level {level} student width {s.shape[1]} != teacher '
                                 f'width {t.shape[1]}')
            with torch.autocast(device_type=s.device.type, enabled=False):
                s32 = s.float().contiguous()
                t32 = t.detach().float().contiguous()
                losses[f'loss_emb_cwd_p{level}'] = self.cwd[str(level)](s32, t32)
        return losses

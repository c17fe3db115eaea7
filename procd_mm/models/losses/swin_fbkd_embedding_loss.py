"""TinyBERT-style Swin block distillation (``L_emb`` kind ``fbkd``, paper Eq. 5)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmrazor.models.task_modules import RecorderManager
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils import InputError
from procd_mm.utils.checks import check_positive_int

from ._recording import RecordingMixin, build_recorder_manager
from ._utils import as_index_tuple, check_weight

OWNER = 'SwinFBKDEmbeddingLoss'
ROLES = ('student', 'teacher')


@MODELS.register_module()
class SwinFBKDEmbeddingLoss(RecordingMixin, BaseModule):
    """Attention-map and hidden-state distillation between Swin backbones (paper Eq. 5).

    `arXiv 2212.13180 <https://arxiv.org/abs/2212.13180>`_, Eq. 5, after TinyBERT
    (`arXiv 1909.10351 <https://arxiv.org/abs/1909.10351>`_):
    ``L_emb = sum_j MSE(mean_h A^S_j, mean_h A^T_j) + sum_j MSE(F^S_j W_h, F^T_j)``
    over the selected (student block, teacher block) pairs j of one stage of
    mmdet ``SwinTransformer`` backbones. ``A_j`` is the window-attention
    probability map of the block (the input of
    ``blocks[b].attn.w_msa.attn_drop``, ``[B*nW, heads, N, N]``), averaged over
    heads because the two backbones have different head counts;
    ``F_j`` is the block output ``[B, L, C]``; ``W_h`` is one learnable
    ``nn.Linear(student width, teacher width)`` shared by all pairs.

    ``attn_weight=0`` switches the attention term off: no attention recorder is
    built (no hook on ``attn_drop``), no attention map is recorded and
    :meth:`forward` returns only ``loss_emb_fbkd_hidden``. This is the
    hidden-features-only form that the paper's detection experiments use ("we
    only distill the hidden features of the backbone", paper section IV-A,
    with Table II).

    The tensors come from mmrazor recorders, which :meth:`attach` registers on
    both backbones: per pair j, a ``ModuleOutputsRecorder`` on the block
    (``hidden{j}``) and, with the attention term, a ``ModuleInputsRecorder``
    on its ``attn.w_msa.attn_drop`` (``attn{j}``). They record only inside
    :meth:`student_recording` / :meth:`teacher_recording`, which ``ProCKD``
    opens around the student's forward and the teacher's ``extract_feat``, so
    nothing is recorded in evaluation or when a gradient-checkpointed block
    recomputes its forward during the backward pass; teacher records are
    detached. :meth:`forward` consumes and clears the records; the FPN
    features it receives (shared ``L_emb`` interface) are not used. The MSEs
    are computed in float32.

    Args:
        stage (int): 0-based Swin stage. Defaults to 2 (the paper's stage 3).
        student_blocks (Sequence[int]): Student block indices in ``stage``.
            Defaults to ``(0, 1, 2, 3, 4, 5)``.
        teacher_blocks (Sequence[int]): Teacher block indices, paired in order.
            Defaults to ``(2, 5, 8, 11, 14, 17)`` (shift parity preserved).
        attn_weight (float): Weight of the attention term; 0 removes the term
            (no attention recorders, no records, no loss key). Defaults to 1.0.
        hidden_weight (float): Weight of the hidden-state term. Defaults to 1.0.
        student_channels (int, optional): Student width of ``stage``; when
            omitted ``W_h`` is built by :meth:`attach` from the backbone (then
            ``attach`` must run before the optimizer is built).
        teacher_channels (int, optional): Teacher width of ``stage``, likewise.
        init_cfg (dict, optional): mmengine initialisation config.

    Returns from :meth:`forward`: ``loss_emb_fbkd_attn`` (only when
    ``attn_weight > 0``) and ``loss_emb_fbkd_hidden``.
    """

    def __init__(self,
                 stage: int = 2,
                 student_blocks: Sequence[int] = (0, 1, 2, 3, 4, 5),
                 teacher_blocks: Sequence[int] = (2, 5, 8, 11, 14, 17),
                 attn_weight: float = 1.0,
                 hidden_weight: float = 1.0,
                 student_channels: Optional[int] = None,
                 teacher_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(stage, bool) or not isinstance(stage, int) or stage < 0:
            raise InputError(f'{OWNER}: stage must be a non-negative int, got {stage!r}')
        self.stage = stage
        self.student_blocks = as_index_tuple(student_blocks, 'student_blocks', OWNER)
        self.teacher_blocks = as_index_tuple(teacher_blocks, 'teacher_blocks', OWNER)
        if len(self.student_blocks) != len(self.teacher_blocks):
            raise InputError(f'{OWNER}: student_blocks {self.student_blocks} and teacher_blocks '
                             f'{self.teacher_blocks} must pair up (lengths '
                             f'{len(self.student_blocks)} vs {len(self.teacher_blocks)})')
        self.attn_weight = check_weight(attn_weight, 'attn_weight', OWNER)
        self.hidden_weight = check_weight(hidden_weight, 'hidden_weight', OWNER)
        self.kinds = ('attn', 'hidden') if self.attn_weight > 0 else ('hidden', )
        for name, value in (('student_channels', student_channels),
                            ('teacher_channels', teacher_channels)):
            if value is not None:
                check_positive_int(OWNER, name, value)
        if (student_channels is None) != (teacher_channels is None):
            raise InputError(f'{OWNER}: give both student_channels and teacher_channels or '
                             f'neither, got {student_channels!r} and {teacher_channels!r}')
        self.W_h: Optional[nn.Linear] = None
        if student_channels is not None:
            self.W_h = nn.Linear(student_channels, teacher_channels)
        self._recorders = tuple(
            build_recorder_manager({
                f'{kind}{j}': dict(type='ModuleInputs' if kind == 'attn' else 'ModuleOutputs',
                                   source=self._source(kind, block))
                for j, block in enumerate(blocks) for kind in self.kinds
            }) for blocks in (self.student_blocks, self.teacher_blocks))

    def _source(self, kind: str, block: int) -> str:
        """The recorded module, named from the detector."""
        name = f'backbone.stages.{self.stage}.blocks.{block}'
        return f'{name}.attn.w_msa.attn_drop' if kind == 'attn' else name

    def recorder_managers(self) -> Tuple[RecorderManager, RecorderManager]:
        return self._recorders

    # ------------------------------------------------------------------ build
    def _blocks(self, detector: nn.Module, role: str, indices: Sequence[int]) -> List[nn.Module]:
        if not isinstance(detector, nn.Module):
            raise TypeError(f'{OWNER}.attach: {role} must be an nn.Module (an mmdet detector), '
                            f'got {type(detector).__name__}')
        backbone = getattr(detector, 'backbone', None)
        stages = getattr(backbone, 'stages', None)
        if not isinstance(stages, nn.ModuleList):
            raise TypeError(f'{OWNER}.attach: the {role} needs an mmdet SwinTransformer at '
                            f'.backbone (backbone.stages[s].blocks[b]), got '
                            f'{type(backbone).__name__}')
        if self.stage >= len(stages):
            raise InputError(f'{OWNER}.attach: {role} stage {self.stage} does not exist: the '
                             f'{role} backbone has {len(stages)} stages')
        blocks = getattr(stages[self.stage], 'blocks', None)
        if not isinstance(blocks, nn.ModuleList):
            raise TypeError(f'{OWNER}.attach: {role} stage {self.stage} has no `blocks` list')
        out = []
        for b in indices:
            if b >= len(blocks):
                raise InputError(f'{OWNER}.attach: {role} block {b} of stage {self.stage} does '
                                 f'not exist: that stage has {len(blocks)} blocks')
            block = blocks[b]
            w_msa = getattr(getattr(block, 'attn', None), 'w_msa', None)
            if w_msa is None or not hasattr(w_msa, 'attn_drop'):
                raise TypeError(f'{OWNER}.attach: {role} stage {self.stage} block {b} is not an '
                                f'mmdet SwinBlock (no attn.w_msa.attn_drop)')
            out.append(block)
        return out

    def attach(self, student: nn.Module, teacher: nn.Module) -> None:
        """Validate the block pairs and register the recorders on both backbones (once)."""
        s_blocks = self._blocks(student, 'student', self.student_blocks)
        t_blocks = self._blocks(teacher, 'teacher', self.teacher_blocks)
        for sb, tb, s_idx, t_idx in zip(s_blocks, t_blocks, self.student_blocks,
                                        self.teacher_blocks):
            s_win, t_win = sb.attn.window_size, tb.attn.window_size
            if s_win != t_win:
                raise InputError(f'{OWNER}.attach: window sizes differ: student block {s_idx} '
                                 f'has window_size={s_win}, teacher block {t_idx} has '
                                 f'window_size={t_win}')
            s_shift, t_shift = sb.attn.shift_size, tb.attn.shift_size
            if s_shift != t_shift:
                raise InputError(f'{OWNER}.attach: student block {s_idx} (shift_size={s_shift}) '
                                 f'and teacher block {t_idx} (shift_size={t_shift}) use '
                                 f'different window shifts; pair blocks of equal parity')
        s_width = s_blocks[0].attn.w_msa.embed_dims
        t_width = t_blocks[0].attn.w_msa.embed_dims
        if self.W_h is None:
            device = next(s_blocks[0].parameters()).device
            self.W_h = nn.Linear(s_width, t_width).to(device)
        elif (self.W_h.in_features, self.W_h.out_features) != (s_width, t_width):
            raise InputError(f'{OWNER}.attach: W_h maps {self.W_h.in_features} -> '
                             f'{self.W_h.out_features} but stage {self.stage} widths are student '
                             f'{s_width}, teacher {t_width}')

        self._initialize_recorders(student, teacher)

    def records(self) -> Dict[str, Dict[str, List[Optional[Tensor]]]]:
        """``{role: {kind: [tensor or None per pair]}}``; attention maps averaged over heads.

        ``hidden``: the block output ``[B, L, C]``; ``attn``: the input of ``attn_drop``,
        ``[B*nW, heads, N, N]``, as ``[B*nW, N, N]``. The first record of the current
        recording context; None where nothing was recorded.
        """
        out = {}
        for role, manager in zip(ROLES, self.recorder_managers()):
            out[role] = {}
            for kind in self.kinds:
                values = []
                for j in range(len(self.student_blocks)):
                    recorder = manager.get_recorder(f'{kind}{j}')
                    if not recorder.data_buffer:
                        values.append(None)
                    elif kind == 'attn':  # ModuleInputs: the argument tuple of attn_drop
                        values.append(recorder.get_record_data(0, 0).mean(dim=1))
                    else:
                        values.append(recorder.get_record_data(0))
                out[role][kind] = values
        return out

    # --------------------------------------------------------------- forward
    def forward(self, student_feats: Sequence[Tensor] = (),
                teacher_feats: Sequence[Tensor] = ()) -> Dict[str, Tensor]:
        """Eq. 5 from the recorded tensors; FPN inputs are ignored. Clears the records."""
        if self.W_h is None or not self._attached:
            raise RuntimeError(f'{OWNER}: call attach(student, teacher) before forward()')
        records = self.records()
        self.reset_records()
        missing = [
            f'{role} {kind} of block {blocks[j]}'
            for role, blocks in (('student', self.student_blocks),
                                 ('teacher', self.teacher_blocks))
            for kind in self.kinds for j, v in enumerate(records[role][kind]) if v is None
        ]
        if missing:
            raise RuntimeError(f'{OWNER}: nothing recorded for {", ".join(missing)}; run the '
                               f'teacher inside teacher_recording() and the student inside '
                               f'student_recording() before each forward()')
        with_attn = 'attn' in self.kinds
        attn_loss, hidden_loss = 0., 0.
        for j, (s_idx, t_idx) in enumerate(zip(self.student_blocks, self.teacher_blocks)):
            s_hid, t_hid = records['student']['hidden'][j], records['teacher']['hidden'][j]
            if with_attn:
                s_attn, t_attn = records['student']['attn'][j], records['teacher']['attn'][j]
                if s_attn.shape != t_attn.shape:
                    raise ValueError(f'{OWNER}: attention maps of student block {s_idx} '
                                     f'{tuple(s_attn.shape)} and teacher block {t_idx} '
                                     f'{tuple(t_attn.shape)} differ (same input images?)')
            if s_hid.shape[:2] != t_hid.shape[:2]:
                raise ValueError(f'{OWNER}: hidden states of student block {s_idx} '
                                 f'{tuple(s_hid.shape)} and teacher block {t_idx} '
                                 f'{tuple(t_hid.shape)} have different token counts')
            projected = self.W_h(s_hid)
            with torch.autocast(device_type=projected.device.type, enabled=False):
                if with_attn:
                    attn_loss = attn_loss + F.mse_loss(s_attn.float(), t_attn.float())
                hidden_loss = hidden_loss + F.mse_loss(projected.float(), t_hid.float())
        losses = dict(loss_emb_fbkd_attn=self.attn_weight * attn_loss) if with_attn else {}
        losses['loss_emb_fbkd_hidden'] = self.hidden_weight * hidden_loss
        return losses

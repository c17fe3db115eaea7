"""Feature augmentation module of ProC-KD (paper Eq. 3-4)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils.checks import check_positive_int


@MODELS.register_module()
class FeatureAugmentation(BaseModule):
    """Feature augmentation with prototypes (paper Eq. 3-4, Fig. 3b).

    For a feature ``F_h`` (a map ``[B, D, H, W]``, handled as tokens
    ``F_r in R^{B x HW x D}``, or tokens ``[B, L, D]`` directly) and the
    prototypes ``P in R^{n x D}`` of :class:`PrototypeLearning` (passed in, the
    same parameter, so gradients reach it):

    * encode: ``F_e = enc(F_r)``, ``P_e = enc_p(P)`` (linear maps D -> D and
      D_p -> D);
    * Eq. 3: ``A = softmax_n(F_e P_e^T)``, ``A in R^{B x HW x n}``;
    * Eq. 4: ``O_aug = ReLU(phi(concat[F_e, A P]) + F_r)`` with ``phi`` a
      fully-connected layer D + D_p -> D; the attended feature uses the raw
      prototypes P, as paper Eq. 4 (``A P_l``) states.

    The prototypes may be wider than the features (D_p != D): they live at the teacher's
    width when the teacher's and the student's differ (docs/method.md, "Teacher and
    student that differ").

    The output has the shape (and layout) of the input. The attention logits,
    the softmax and ``A P`` are computed in (at least) float32, also under
    autocast.

    Args:
        in_channels (int): Feature width D. Defaults to 256.
        prototype_channels (int, optional): Prototype width D_p; defaults to D.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, in_channels: int = 256, prototype_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        prototype_channels = in_channels if prototype_channels is None else prototype_channels
        for name, value in (('in_channels', in_channels),
                            ('prototype_channels', prototype_channels)):
            check_positive_int('FeatureAugmentation', name, value)
        self.in_channels = in_channels
        self.prototype_channels = prototype_channels
        self.enc = nn.Linear(in_channels, in_channels)
        self.enc_p = nn.Linear(prototype_channels, in_channels)
        self.phi = nn.Linear(in_channels + prototype_channels, in_channels)

    def _check_inputs(self, x: Tensor, prototypes: Tensor) -> None:
        D = self.in_channels
        if not isinstance(x, Tensor) or not isinstance(prototypes, Tensor):
            raise TypeError('FeatureAugmentation expects tensors, got '
                            f'x={type(x).__name__}, prototypes={type(prototypes).__name__}')
        if x.dim() == 4:
            if x.shape[1] != D:
                raise ValueError(f'FeatureAugmentation expects a feature map [B, {D}, H, W], '
                                 f'got {tuple(x.shape)}')
        elif x.dim() == 3:
            if x.shape[2] != D:
                raise ValueError(f'FeatureAugmentation expects tokens [B, L, {D}], '
                                 f'got {tuple(x.shape)}')
        else:
            raise ValueError('FeatureAugmentation expects [B, D, H, W] or [B, L, D] input, '
                             f'got {tuple(x.shape)}')
        D_p = self.prototype_channels
        if prototypes.dim() != 2 or prototypes.shape[1] != D_p or prototypes.shape[0] == 0:
            raise ValueError(f'FeatureAugmentation expects prototypes [n, {D_p}] with n > 0, '
                             f'got {tuple(prototypes.shape)}')

    def attention(self, tokens: Tensor, prototypes: Tensor) -> Tensor:
        """Eq. 3: ``A = softmax_n(enc(tokens) enc_p(P)^T)``, shape ``[B, L, n]``."""
        self._check_inputs(tokens, prototypes)
        if tokens.dim() != 3:
            raise ValueError(f'FeatureAugmentation.attention expects tokens [B, L, '
                             f'{self.in_channels}], got {tuple(tokens.shape)}')
        return self._attention(self.enc(tokens), prototypes)

    def _attention(self, encoded: Tensor, prototypes: Tensor) -> Tensor:
        p_e = self.enc_p(prototypes)
        dtype = torch.promote_types(encoded.dtype, torch.float32)
        with torch.autocast(device_type=encoded.device.type, enabled=False):
            logits = torch.matmul(encoded.to(dtype), p_e.to(dtype).t())
            return F.softmax(logits, dim=-1)

    def forward(self, x: Tensor, prototypes: Tensor) -> Tensor:
        """Eq. 3-4 on ``x`` (``[B, D, H, W]`` or ``[B, L, D]``); same shape out."""
        self._check_inputs(x, prototypes)
        is_map = x.dim() == 4
        tokens = x.flatten(2).transpose(1, 2) if is_map else x  # F_r: [B, L, D]
        encoded = self.enc(tokens)  # F_e
        attn = self._attention(encoded, prototypes)  # [B, L, n]
        with torch.autocast(device_type=x.device.type, enabled=False):
            attended = torch.matmul(attn, prototypes.to(attn.dtype))  # A P: [B, L, D]
        fused = self.phi(torch.cat([encoded, attended.to(encoded.dtype)], dim=-1))
        out = F.relu(fused + tokens.to(fused.dtype)).to(x.dtype)
        if is_map:
            B, D, H, W = x.shape
            out = out.transpose(1, 2).reshape(B, D, H, W)
        return out

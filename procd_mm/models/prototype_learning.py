"""Prototype learning module of ProC-KD (paper Eq. 1-2, SPEC section 3.1)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmrazor.registry import MODELS
from torch import Tensor


def check_feature_map(x: Tensor, in_channels: int, owner: str) -> None:
    """Raise a ``ValueError`` unless ``x`` is a ``[B, in_channels, H, W]`` tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f'{owner} expects a torch.Tensor, got {type(x).__name__}')
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f'{owner} expects a feature map of shape [B, {in_channels}, H, W], '
                         f'got {tuple(x.shape)}')
    if x.shape[0] == 0 or x.shape[2] * x.shape[3] == 0:
        raise ValueError(f'{owner} got an empty feature map of shape {tuple(x.shape)}')


@MODELS.register_module()
class PrototypeLearning(BaseModule):
    """Prototype learning module (paper Eq. 1-2, Fig. 3a).

    Given a feature map ``F`` of shape ``[B, D, H, W]`` and ``n`` learnable
    prototypes ``P`` of shape ``[n, D]``:

    1. Alignment: ``a_ji = softmax_i(conv1x1(F))`` assigns every position j
       softly to the n prototypes (:meth:`assign`).
    2. Attention (Eq. 1): ``V_i = sum_j a_ji (F_j - p_i)``, computed as
       ``V = A F^T - (A 1) * P`` with one batched matmul; the ``B x n x D x HW``
       residual is never materialised (:meth:`aggregate`).
    3. Aggregation (Eq. 2): ``O_pro = f(concat[F, V_r W_p + b_p])`` where
       ``V_r`` is V flattened to ``[B, n*D]``, the projection is broadcast to
       every position and ``f`` is ``conv1x1(2D->D) - ReLU - conv1x1(D->D)``
       (:meth:`forward`). ``O_pro`` has the shape of ``F``.

    The softmax and Eq. 1 run in (at least) float32, also under autocast.

    Args:
        in_channels (int): Feature width D. Defaults to 256.
        num_prototypes (int): Number of prototypes n. Defaults to 72.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 num_prototypes: int = 72,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('num_prototypes', num_prototypes)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f'PrototypeLearning: {name} must be a positive int, got {value!r}')
        self.in_channels = in_channels
        self.num_prototypes = num_prototypes

        self.prototypes = nn.Parameter(torch.empty(num_prototypes, in_channels))
        self.assign_conv = nn.Conv2d(in_channels, num_prototypes, kernel_size=1)
        self.proj = nn.Linear(num_prototypes * in_channels, in_channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * in_channels, in_channels, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, in_channels, kernel_size=1),
        )
        self.reset_prototypes()

    def reset_prototypes(self) -> None:
        """Initialise the prototypes from N(0, 1/D) (unit expected norm)."""
        nn.init.normal_(self.prototypes, std=self.in_channels**-0.5)

    @staticmethod
    def _compute_dtype(x: Tensor) -> torch.dtype:
        return torch.promote_types(x.dtype, torch.float32)

    def assign(self, x: Tensor) -> Tensor:
        """Soft assignment ``A`` of every position to the prototypes.

        Args:
            x (Tensor): Feature map ``[B, D, H, W]``.

        Returns:
            Tensor: ``[B, n, H*W]``, summing to 1 over n; float32 (or float64
            for float64 input).
        """
        check_feature_map(x, self.in_channels, 'PrototypeLearning')
        logits = self.assign_conv(x).flatten(2)
        return F.softmax(logits.to(self._compute_dtype(x)), dim=1)

    def aggregate(self, x: Tensor, assignment: Optional[Tensor] = None) -> Tensor:
        """Eq. 1: ``V_i = sum_j a_ji (F_j - p_i)`` as ``A F^T - (A 1) * P``.

        Args:
            x (Tensor): Feature map ``[B, D, H, W]``.
            assignment (Tensor, optional): Output of :meth:`assign`; computed
                when omitted.

        Returns:
            Tensor: ``[B, n, D]`` in float32 (float64 for float64 input).
        """
        if assignment is None:
            assignment = self.assign(x)
        else:
            check_feature_map(x, self.in_channels, 'PrototypeLearning')
        B, _, H, W = x.shape
        expected = (B, self.num_prototypes, H * W)
        if tuple(assignment.shape) != expected:
            raise ValueError(f'PrototypeLearning: assignment must have shape {expected}, '
                             f'got {tuple(assignment.shape)}')
        dtype = self._compute_dtype(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            a = assignment.to(dtype)
            feats = x.flatten(2).to(dtype).transpose(1, 2)  # [B, HW, D]
            weighted = torch.bmm(a, feats)  # [B, n, D]
            mass = a.sum(dim=2, keepdim=True)  # [B, n, 1]
            return weighted - mass * self.prototypes.to(dtype).unsqueeze(0)

    def forward(self, x: Tensor) -> Tensor:
        """Eq. 2: ``O_pro = f(concat[F, V_r W_p + b_p])``, same shape as ``x``."""
        vlad = self.aggregate(x)
        B, _, H, W = x.shape
        g = self.proj(vlad.flatten(1).to(x.dtype))  # [B, D]
        g = g[:, :, None, None].expand(B, self.in_channels, H, W)
        return self.fuse(torch.cat([x, g.to(x.dtype)], dim=1))

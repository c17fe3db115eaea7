"""Prototype learning module of ProC-KD (paper Eq. 1-2)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils.checks import check_positive_int


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
    """Prototype learning module of ProC-KD (paper Eq. 1-2, Fig. 3a).

    Paper: https://arxiv.org/abs/2212.13180

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

    NetVLAD normalisation (``normalize=True``, the default): the paper does
    not mention it; it is NetVLAD's (Arandjelovic et al., CVPR 2016) and the
    authors' public code applies it. The features entering steps 1 and 2 are
    L2-normalised over channels at every position; each ``V_i`` is then
    L2-normalised (intra-normalisation) and the flattened V is L2-normalised
    once more, so ``||V_r|| = 1``. Step 3 concatenates the un-normalised F.
    This makes the assignment and V independent of the feature scale and
    keeps V bounded whatever H*W is (it changes with the image size in
    detection); without it, V grows with the number of positions and the
    assignment saturates on large features. ``normalize=False`` gives the
    plain Eq. 1-2 for comparison.

    The normalisation, the softmax and Eq. 1 run in (at least) float32, also
    under autocast.

    Padding: given ``valid`` (``[B, H, W]``, False at the positions that are batch
    padding), the assignment weights of padded positions are zero in Eq. 1, so an
    image's V, and hence its ``O_pro`` at its own positions, does not depend on the
    size of the other images in its batch.

    Args:
        in_channels (int): Feature width D. Defaults to 256.
        num_prototypes (int): Number of prototypes n. Defaults to 72.
        normalize (bool): Apply the NetVLAD normalisation described above.
            Defaults to True.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 num_prototypes: int = 72,
                 normalize: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('num_prototypes', num_prototypes)):
            check_positive_int('PrototypeLearning', name, value)
        if not isinstance(normalize, bool):
            raise ValueError(f'PrototypeLearning: normalize must be a bool, got {normalize!r}')
        self.in_channels = in_channels
        self.num_prototypes = num_prototypes
        self.normalize = normalize

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

    def _input_features(self, x: Tensor) -> Tensor:
        """``x`` in the compute dtype; L2-normalised over channels when ``normalize``."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            feats = x.to(self._compute_dtype(x))
            return F.normalize(feats, p=2, dim=1) if self.normalize else feats

    def assign(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """Soft assignment ``A`` of every position to the prototypes.

        Args:
            x (Tensor): Feature map ``[B, D, H, W]`` (un-normalised; the
                module normalises it when ``normalize``).
            valid (Tensor, optional): ``[B, H, W]`` bool, False at padding.

        Returns:
            Tensor: ``[B, n, H*W]``, summing to 1 over n at valid positions and 0
            at padding; float32 (or float64 for float64 input).
        """
        check_feature_map(x, self.in_channels, 'PrototypeLearning')
        conv_in = self._input_features(x).to(x.dtype) if self.normalize else x
        logits = self.assign_conv(conv_in).flatten(2)
        assignment = F.softmax(logits.to(self._compute_dtype(x)), dim=1)
        if valid is None:
            return assignment
        B, _, H, W = x.shape
        if tuple(valid.shape) != (B, H, W):
            raise ValueError(f'PrototypeLearning: valid must have shape {(B, H, W)}, '
                             f'got {tuple(valid.shape)}')
        return assignment * valid.flatten(1).unsqueeze(1).to(assignment.dtype)

    def aggregate(self, x: Tensor, assignment: Optional[Tensor] = None) -> Tensor:
        """Eq. 1: ``V_i = sum_j a_ji (F_j - p_i)`` as ``A F^T - (A 1) * P``.

        With ``normalize``, ``F_j`` is the L2-normalised feature and the result
        is intra- and then globally L2-normalised (``||V.flatten(1)|| = 1``).

        Args:
            x (Tensor): Feature map ``[B, D, H, W]`` (un-normalised).
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
        feats = self._input_features(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            a = assignment.to(dtype)
            feats = feats.flatten(2).transpose(1, 2)  # [B, HW, D]
            weighted = torch.bmm(a, feats)  # [B, n, D]
            mass = a.sum(dim=2, keepdim=True)  # [B, n, 1]
            vlad = weighted - mass * self.prototypes.to(dtype).unsqueeze(0)
            if self.normalize:
                vlad = F.normalize(vlad, p=2, dim=2)  # intra-normalisation
                vlad = F.normalize(vlad.flatten(1), p=2, dim=1).view_as(vlad)
            return vlad

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """Eq. 2: ``O_pro = f(concat[F, V_r W_p + b_p])``, same shape as ``x``.

        The concatenation uses the un-normalised ``x``; ``valid`` (``[B, H, W]``,
        False at padding) keeps padded positions out of V.
        """
        vlad = self.aggregate(x, self.assign(x, valid))
        B, _, H, W = x.shape
        g = self.proj(vlad.flatten(1).to(x.dtype))  # [B, D]
        g = g[:, :, None, None].expand(B, self.in_channels, H, W)
        return self.fuse(torch.cat([x, g.to(x.dtype)], dim=1))

"""Batch-norm statistics of the plain pass, reused by the prototype path's head passes.

The prototype path re-runs the student's RoI heads on a few RoI rows (those that
read the replaced FPN level). Heads of the paper's students normalise with
BatchNorm / SyncBN (4conv1fc). Run as a batch of their own in train mode, those
rows would be normalised with their own statistics, update the running
statistics a second time, and (SyncBN) start collectives that ranks without such
rows never join. Instead, a path pass normalises its rows with the statistics of
the plain pass, as if the rows had been swapped inside the plain batch, taken as
constants: nothing is updated, no collective is started, and no gradient
reaches the student's backbone through the statistics (docs/method.md,
"Normalisation in the path passes"). Layers that keep batch statistics but are not
torch ``_BatchNorm`` layers (mmcv's ``MMSyncBN``, instance norm with running
statistics) cannot be replayed this way and are refused when the path is built.
"""
from contextlib import contextmanager
from typing import Dict, Tuple

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from procd_mm.utils import InputError

from ..layers import CPUSyncBatchNorm
from ..layers.cpu_sync_batchnorm import group_moments


def batch_statistics(x: Tensor, norm: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """Detached (mean, biased variance) per channel that ``norm`` normalises ``x`` with.

    For a synchronised batch norm in a distributed run these are the statistics over the
    batches of all ranks of its process group (one all-reduce, made by every rank
    because the plain pass runs on every rank).
    """
    x = x.detach().float()
    group = getattr(norm, 'process_group', None) or (dist.group.WORLD if dist.is_initialized()
                                                     else None)
    if isinstance(norm, (nn.SyncBatchNorm, CPUSyncBatchNorm)) and group is not None \
            and dist.get_world_size(group) > 1:
        mean, var, _ = group_moments(x, group, differentiable=False)
        return mean, var
    var, mean = torch.var_mean(x, [0] + list(range(2, x.dim())), correction=0)
    return mean, var


class PlainBatchStatistics:
    """Capture the batch statistics of every BatchNorm layer below ``module``; replay them.

    ``with stats.capture():`` around the plain forward pass records, per layer,
    the statistics it normalised with. ``with stats.replay():`` around a path pass
    makes each layer normalise with those, as fixed constants, without updating
    its running statistics and without communication. Layers in eval mode keep
    using their running statistics in both.

    Args:
        module: the modules whose norm layers a path pass re-runs (the student's bbox heads).
        name: how messages name ``module`` (e.g. ``roi_head.bbox_head``).

    Raises:
        InputError: a layer below ``module`` keeps batch statistics (a ``running_mean``
            buffer) and is not a ``_BatchNorm``: it would run in train mode inside a path
            pass, start collectives of its own and update its statistics twice.
    """

    def __init__(self, module: nn.Module, name: str = 'module'):
        for layer_name, layer in module.named_modules():
            if not isinstance(layer, _BatchNorm) \
                    and 'running_mean' in dict(layer.named_buffers(recurse=False)):
                raise InputError(
                    f'ProCKD: {name}.{layer_name} is {type(layer).__module__}.'
                    f'{type(layer).__name__}, a norm layer the prototype path cannot replay '
                    "under the plain pass's statistics; use norm_cfg type 'SyncBN' or 'BN'")
        self.module = module
        self.norms = []
        self.stats: Dict[nn.Module, Tuple[Tensor, Tensor]] = {}
        self._swapped: Dict[nn.Module, tuple] = {}

    @contextmanager
    def capture(self):
        # found anew each time: layers may be replaced after build (SyncBN -> CPUSyncBatchNorm)
        self.norms = [m for m in self.module.modules() if isinstance(m, _BatchNorm)]
        self.stats.clear()
        handles = [norm.register_forward_pre_hook(self._record) for norm in self.norms]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _record(self, norm: _BatchNorm, args) -> None:
        if norm.training or norm.running_mean is None:
            self.stats[norm] = batch_statistics(args[0], norm)

    @contextmanager
    def replay(self):
        """Inside, every captured layer runs as in eval mode on the plain pass's statistics:
        a forward pre-hook puts them in place of its running statistics, a forward hook puts
        its own back (torch's eval-mode batch norm is ``F.batch_norm`` on those buffers,
        without update and without communication)."""
        handles = [hook for norm in self.norms
                   for hook in (norm.register_forward_pre_hook(self._swap_in),
                                norm.register_forward_hook(self._swap_back))]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            for norm in list(self._swapped):  # a forward that raised midway
                self._swap_back(norm)

    def _swap_in(self, norm: _BatchNorm, args) -> None:
        if norm in self.stats:
            mean, var = self.stats[norm]
        elif not norm.training and norm.running_mean is not None:
            return  # in eval mode: its running statistics, in both passes
        else:
            raise RuntimeError(f'{type(norm).__name__} ran in a path pass but not in the '
                               'plain pass: its batch statistics were not captured')
        self._swapped[norm] = (norm.training, norm.running_mean, norm.running_var)
        # statistics stay in float32, as batch norm keeps them under autocast
        norm.training = False
        norm.running_mean, norm.running_var = mean, var

    def _swap_back(self, norm: _BatchNorm, args=None, output=None) -> None:
        if norm in self._swapped:
            norm.training, norm.running_mean, norm.running_var = self._swapped.pop(norm)

"""Synchronised batch norm for distributed CPU (gloo) runs.

torch's ``SyncBatchNorm`` refuses CPU tensors in a distributed run ("SyncBatchNorm
expected input tensor to be on GPU"), and mmengine reverts SyncBN to BN only when
the run is not distributed. The paper's Swin students normalise their RoI heads
with SyncBN, so a CPU run of their configs (``tools/dist_train.sh CONFIG 2``
without CUDA) needs a synchronised batch norm that runs on CPU.
"""
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm


def group_moments(x: Tensor, group, differentiable: bool = True):
    """(mean, biased variance, count) per channel of ``x`` over the batches of every rank of
    ``group``: one all-reduce of (Σx, Σx², count), differentiable or not."""
    channels = x.shape[1]
    dims = [0] + list(range(2, x.dim()))
    count = x.new_full((1, ), x.numel() / channels)
    local = torch.cat([x.sum(dims), (x * x).sum(dims), count])
    if differentiable:
        moments = all_reduce(local, group=group)
    else:
        moments = local
        dist.all_reduce(moments, group=group)
    total = moments[-1]
    mean = moments[:channels] / total
    var = (moments[channels:2 * channels] / total - mean * mean).clamp(min=0)
    return mean, var, total


class CPUSyncBatchNorm(_BatchNorm):
    """Synchronised batch norm whose statistics are all-reduced over any backend, gloo included.

    Not a subclass of ``nn.SyncBatchNorm``: torch's DDP refuses those on CPU modules.

    In training mode in a distributed run it normalises with the mean and biased
    variance of the batches of all ranks of its process group: one differentiable
    all-reduce of (Σx, Σx², count) per call, so gradients flow through the global
    statistics as in torch's CUDA implementation; running statistics are updated
    with the unbiased variance. Otherwise it is plain batch norm.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f'expected at least 2D input (got {x.dim()}D input)')

    def forward(self, x: Tensor) -> Tensor:
        group = self.process_group or (dist.group.WORLD if dist.is_initialized() else None)
        if not self.training or group is None or dist.get_world_size(group) == 1:
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        mean, var, total = group_moments(x, group)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None \
                    else 1. / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @classmethod
    def convert(cls, module: nn.Module, process_group=None) -> int:
        """Turn every ``nn.SyncBatchNorm`` below ``module`` into this class, in place.

        Parameters and buffers are kept (the same tensors). In a distributed run the
        layers communicate in a process group of their own (``process_group``, by default
        a new group of all ranks, so every rank must call this in the same order): their
        all-reduces then never interleave with DDP's gradient all-reduces, which run on
        the default group in an order that may differ between ranks. Returns the number
        of layers converted.
        """
        layers = [(parent, name, child) for parent in module.modules()
                  for name, child in parent.named_children()
                  if isinstance(child, nn.SyncBatchNorm)]
        if layers and process_group is None and dist.is_initialized():
            process_group = dist.new_group()
        for parent, name, child in layers:
            new = cls(child.num_features, child.eps, child.momentum, child.affine,
                      child.track_running_stats, process_group)
            for key, tensor in list(child._parameters.items()) + list(child._buffers.items()):
                setattr(new, key, tensor)
            new.train(child.training)
            setattr(parent, name, new)
        return len(layers)

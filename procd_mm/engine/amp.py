"""``--amp`` for mmdet-style tools, on CUDA and on CPU.

mmengine's ``AmpOptimWrapper`` asserts that CUDA (or NPU/MLU) is present. With
CUDA, ``--amp`` selects it with dynamic loss scaling, exactly as mmdet's tools
do. Without CUDA it selects :class:`CPUAutocastOptimWrapper`, which runs the
forward pass under ``torch.autocast('cpu', dtype=torch.bfloat16)``; bfloat16
has float32's exponent range, so no loss scaling is needed.
"""
from contextlib import contextmanager

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward pass runs under CPU bfloat16 autocast."""

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield


def enable_amp(cfg: Config) -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision for this machine."""
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'

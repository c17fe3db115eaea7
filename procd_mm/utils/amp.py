"""``--amp`` for mmdet-style tools.

With CUDA, ``--amp`` selects mmengine's ``AmpOptimWrapper`` with dynamic loss
scaling, exactly as mmdet's tools do. Without CUDA it is refused with one line:
mmengine's ``AmpOptimWrapper`` asserts CUDA, and CPU bfloat16 autocast cannot
stand in for it because mmcv 2.1's CPU kernels of ``nms`` and ``RoIAlign`` only
accept float32 ("expected scalar type Float but found BFloat16").
"""
import torch
from mmengine.config import Config

from .errors import InputError


def enable_amp(cfg: Config, what: str = 'mixed precision') -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision, or refuse without CUDA (``what``: the
    caller's name for the switch, in the message)."""
    if not torch.cuda.is_available():
        raise InputError(f'{what} needs CUDA: on CPU, mmcv\'s nms/RoIAlign kernels have no '
                         f'bfloat16 support; train without {what}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'

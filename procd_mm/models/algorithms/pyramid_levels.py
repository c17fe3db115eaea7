"""The levels of a detector's feature pyramid, measured on the model itself."""
from typing import List, Tuple

import torch


def pyramid_levels(detector, size: int = 256) -> List[Tuple[int, int]]:
    """``(stride, channels)`` of each output of ``detector.extract_feat``, from one forward
    pass of a ``size`` x ``size`` zero image in eval mode (training state and running
    statistics untouched)."""
    param = next(detector.parameters())
    # each module's own flag, restored as it was (``train()`` would apply e.g. norm_eval)
    modes = [(module, module.training) for module in detector.modules()]
    detector.eval()
    try:
        with torch.no_grad():
            feats = detector.extract_feat(param.new_zeros(1, 3, size, size))
    finally:
        for module, mode in modes:
            module.training = mode
    return [(round(size / f.shape[-1]), f.shape[1]) for f in feats]

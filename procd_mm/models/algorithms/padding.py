"""Which positions of a feature map lie inside their image, not in the batch padding."""
import math
from typing import Sequence, Tuple

import torch
from torch import Tensor


def valid_positions(data_samples: Sequence, input_size: Tuple[int, int],
                    feat_size: Tuple[int, int], device) -> Tensor:
    """``[B, H, W]`` bool: True where a position of a ``feat_size`` map of a batch of
    ``input_size`` covers a pixel of its image (``img_shape``, top-left aligned as
    mmdet's data preprocessors pad).

    A position of stride ``s`` covers pixels ``[i·s, (i+1)·s)``; it is valid if that
    range starts inside the image, so the image's last, partly padded cell counts.
    """
    (in_h, in_w), (h, w) = input_size, feat_size
    valid = torch.zeros(len(data_samples), h, w, dtype=torch.bool, device=device)
    for i, sample in enumerate(data_samples):
        img_h, img_w = sample.img_shape[:2]
        valid[i, :min(h, math.ceil(img_h * h / in_h)), :min(w, math.ceil(img_w * w / in_w))] = True
    return valid

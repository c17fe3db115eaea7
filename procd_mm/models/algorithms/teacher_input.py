"""The teacher's own input normalisation, converted from the student's batch.

A teacher trained on other normalisation (mean, std, channel order: an RTMDet student
normalises BGR, the Swin teachers RGB) must see the image as it was trained, never
the student's normalisation (docs/method.md, "Teacher input"). Both preprocessors are
per-channel affine maps of the raw image with a channel permutation, followed by
padding; the student's batch tensor is mapped back through the student's map and
forward through the teacher's, and the padding is redone with the teacher's value and
size divisor.
"""
import math
from typing import List, Optional

import torch
from mmdet.structures import DetDataSample
from torch import Tensor, nn

from procd_mm.utils import InputError

#: Raw value written into one channel of the probe image (any value that is not 0).
PROBE_VALUE = 100


def affine_of(preprocessor: nn.Module, channels: int, who: str):
    """``(source, scale, offset)``: output channel ``o`` of ``preprocessor`` is
    ``scale[o] * raw[source[o]] + offset[o]`` for a raw image ``raw``.

    Measured with the preprocessor itself on a probe image (one column of zeros, then
    one column per channel holding ``PROBE_VALUE`` in that channel only), so it holds
    for any mmengine/mmdet image preprocessor whatever its options are called.
    """
    probe = torch.zeros(channels, 1, channels + 1, dtype=torch.uint8)
    for c in range(channels):
        probe[c, 0, c + 1] = PROBE_VALUE
    try:
        with torch.no_grad():
            out = preprocessor(dict(inputs=[probe], data_samples=[DetDataSample()]),
                               False)['inputs'][0, :, 0, :channels + 1].double().cpu()
    except Exception as exc:  # a preprocessor that cannot take an image batch
        raise InputError(f'ProCKD: the {who} data_preprocessor '
                         f'({type(preprocessor).__name__}) cannot be probed for its '
                         f'normalisation: {exc}') from None
    offset = out[:, 0]
    gain = (out[:, 1:] - offset[:, None]) / PROBE_VALUE  # [out channel, raw channel]
    source = gain.abs().argmax(dim=1)
    scale = gain.gather(1, source[:, None]).squeeze(1)
    others = gain.abs().sum(dim=1) - scale.abs()
    if sorted(source.tolist()) != list(range(channels)) or (scale == 0).any() \
            or (others > 1e-6 * scale.abs()).any():
        raise InputError(f'ProCKD: the {who} data_preprocessor ({type(preprocessor).__name__}) '
                         'is not a per-channel normalisation with a channel permutation; its '
                         "input cannot be converted to the teacher's")
    return source, scale, offset


class TeacherInput:
    """Convert the student's normalised batch into the teacher's (SPEC §3.6, paper setting
    Sec. IV-A.2: the teacher runs on the image as it was trained).

    ``x_t[o] = t[o] · raw[π_t(o)] + c[o]`` with ``raw`` recovered from the student's
    ``x_s``; positions outside an image's ``img_shape`` are padding and get the
    teacher's ``pad_value``; the batch is padded to a multiple of the teacher's
    ``pad_size_divisor``. Equal normalisations leave the batch untouched (the same
    tensor object). The teacher's ``batch_augments`` are not applied: it sees the
    student's augmented batch.

    Args:
        student, teacher: the two models' ``data_preprocessor`` modules.
        channels (int): image channels.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, channels: int = 3):
        s_src, s_scale, s_off = affine_of(student, channels, 'student')
        t_src, t_scale, t_off = affine_of(teacher, channels, 'teacher')
        # student output channel that holds raw channel r
        holder = torch.empty_like(s_src)
        holder[s_src] = torch.arange(channels)
        index = holder[t_src]
        self.index = index
        self.scale = (t_scale / s_scale[index]).float()
        self.offset = (t_off - t_scale * s_off[index] / s_scale[index]).float()
        self.pad_value = float(getattr(teacher, 'pad_value', 0))
        self.divisor = int(getattr(teacher, 'pad_size_divisor', 1))
        same_map = torch.equal(index, torch.arange(channels)) \
            and torch.allclose(self.scale, torch.ones(channels), rtol=0, atol=1e-6) \
            and torch.allclose(self.offset, torch.zeros(channels), rtol=0, atol=1e-4)
        self.identity = same_map and self.pad_value == float(getattr(student, 'pad_value', 0)) \
            and self.divisor == int(getattr(student, 'pad_size_divisor', 1))

    def __call__(self, inputs: Tensor, data_samples: Optional[List] = None) -> Tensor:
        if self.identity:
            return inputs
        index = self.index.to(inputs.device)
        x = inputs[:, index] * self.scale.to(inputs)[None, :, None, None] \
            + self.offset.to(inputs)[None, :, None, None]
        B, C, H, W = x.shape
        height = math.ceil(H / self.divisor) * self.divisor
        width = math.ceil(W / self.divisor) * self.divisor
        out = x.new_full((B, C, height, width), self.pad_value)
        for i in range(B):
            h, w = (data_samples[i].img_shape[:2] if data_samples is not None else (H, W))
            out[i, :, :h, :w] = x[i, :, :h, :w]
        return out

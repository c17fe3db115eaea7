"""Argument and input checks shared by the embedding-distillation losses."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from torch import Tensor

from procd_mm.utils import InputError
from procd_mm.utils.checks import check_non_negative_number


def as_index_tuple(value: Sequence[int], name: str, owner: str) -> Tuple[int, ...]:
    """Return ``value`` as a non-empty tuple of distinct non-negative ints."""
    if isinstance(value, int) or not isinstance(value, Sequence) or len(value) == 0:
        raise InputError(f'{owner}: {name} must be a non-empty sequence of ints, got {value!r}')
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f'{owner}: {name} must hold non-negative ints, got {value!r}')
    if len(set(value)) != len(value):
        raise InputError(f'{owner}: {name} must not repeat an index, got {value!r}')
    return tuple(value)


def per_level(value: Union[float, int, Sequence], levels: Tuple[int, ...], name: str,
              owner: str) -> tuple:
    """Broadcast a scalar to every level, or check a sequence has one entry per level."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value, ) * len(levels)
    if not isinstance(value, Sequence) or len(value) != len(levels):
        raise InputError(f'{owner}: {name} must be a number or have one entry per level '
                         f'(levels={levels}), got {value!r}')
    return tuple(value)


def check_weight(value: float, name: str, owner: str) -> float:
    """Return ``value`` as float, refusing negative or non-numeric weights."""
    return float(check_non_negative_number(owner, name, value))


def neck_spec(detector: nn.Module, role: str, owner: str) -> Tuple[Optional[int], Optional[int]]:
    """``(out_channels, num_outs)`` of ``detector.neck`` where it declares them.

    Raises a ``TypeError`` when ``detector`` is not a module; returns ``None``
    for what the neck does not declare (the forward pass checks those).
    """
    if not isinstance(detector, nn.Module):
        raise TypeError(f'{owner}.attach: {role} must be an nn.Module (an mmdet detector), '
                        f'got {type(detector).__name__}')
    neck = getattr(detector, 'neck', None)
    if neck is None:
        return None, None
    channels = getattr(neck, 'out_channels', None)
    num_outs = getattr(neck, 'num_outs', None)
    return (channels if isinstance(channels, int) else None,
            num_outs if isinstance(num_outs, int) else None)


def check_levels_exist(num_outs: Optional[int], levels: Tuple[int, ...], role: str,
                       owner: str) -> None:
    """Refuse levels beyond the number of neck outputs (when it is known)."""
    if num_outs is not None and max(levels) >= num_outs:
        raise InputError(f'{owner}.attach: level {max(levels)} requested but the {role} neck '
                         f'has {num_outs} outputs (levels={levels})')


def select_levels(student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor],
                  levels: Tuple[int, ...], owner: str):
    """Yield ``(level, student_map, teacher_map)`` after checking both pyramids."""
    for role, feats in (('student', student_feats), ('teacher', teacher_feats)):
        if isinstance(feats, Tensor) or not isinstance(feats, Sequence):
            raise TypeError(f'{owner}: {role}_feats must be a tuple of FPN tensors, '
                            f'got {type(feats).__name__}')
        if len(feats) <= max(levels):
            raise ValueError(f'{owner}: level {max(levels)} requested but {role}_feats has '
                             f'{len(feats)} levels')
    for level in levels:
        s, t = student_feats[level], teacher_feats[level]
        if s.dim() != 4 or t.dim() != 4:
            raise ValueError(f'{owner}: level {level} expects [B, C, H, W] maps, got student '
                             f'{tuple(s.shape)} and teacher {tuple(t.shape)}')
        if s.shape[0] != t.shape[0] or s.shape[2:] != t.shape[2:]:
            raise ValueError(f'{owner}: level {level} batch/spatial sizes differ: student '
                             f'{tuple(s.shape)} vs teacher {tuple(t.shape)}')
        yield level, s, t

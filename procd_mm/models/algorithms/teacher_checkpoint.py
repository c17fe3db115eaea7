"""Load a frozen teacher's checkpoint strictly, with errors a user can act on."""
import torch
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import (
    describe_mismatch,
    is_remote,
    key_mismatch,
    read_checkpoint,
    state_dict_of,
)


def load_teacher_checkpoint(teacher: torch.nn.Module, path: str, strict: bool = True) -> None:
    """Load ``path`` into ``teacher``; with ``strict``, any key mismatch is an error.

    A missing, empty, truncated or refused file, or one that is not a dict of
    weights, is an error naming it. With ``strict`` the error lists the missing
    keys, the unexpected keys and the keys whose shapes differ, so that nobody
    distils from a partly random teacher.
    """
    if is_remote(path):  # downloaded and read by mmengine (weights_only as well)
        checkpoint = _load_checkpoint(path, map_location='cpu')
        if not isinstance(checkpoint, dict):
            raise InputError(f'teacher_ckpt {path} is not a checkpoint: it unpickles to '
                             f'{type(checkpoint).__name__}, not to a dict of weights')
    else:
        checkpoint = read_checkpoint(path, 'teacher_ckpt', mmap=False)
    state = state_dict_of(checkpoint, path, 'teacher_ckpt')
    missing, unexpected, mismatched = key_mismatch(teacher.state_dict(), state)
    if strict and (missing or unexpected or mismatched):
        raise InputError(f'teacher_ckpt {path} does not fit the teacher config; '
                         + describe_mismatch(missing, unexpected, mismatched, 'teacher')
                         + ' (set teacher_strict=False to load anyway)')
    for key in [k.split(' ')[0] for k in mismatched]:
        state.pop(key)
    _load_checkpoint_to_model(teacher, state, strict=False)

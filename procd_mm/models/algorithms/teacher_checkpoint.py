"""Load a frozen teacher's checkpoint strictly, with errors a user can act on."""
import os.path as osp

import torch
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from procd_mm.engine.launch import InputError

MAX_LISTED = 10


def _listing(keys) -> str:
    keys = sorted(keys)
    more = f' ... (+{len(keys) - MAX_LISTED} more)' if len(keys) > MAX_LISTED else ''
    return ', '.join(keys[:MAX_LISTED]) + more


def load_teacher_checkpoint(teacher: torch.nn.Module, path: str, strict: bool = True) -> None:
    """Load ``path`` into ``teacher``; with ``strict``, any key mismatch is an error.

    The error lists the missing keys, the unexpected keys and the keys whose
    shapes differ, so that nobody distils from a partly random teacher.
    """
    if not path.startswith(('http://', 'https://')) and not osp.isfile(path):
        raise InputError(f'teacher_ckpt not found: {path}')
    try:
        checkpoint = _load_checkpoint(path, map_location='cpu')
    except Exception as exc:
        raise InputError(f'teacher_ckpt {path} cannot be read: {exc}') from exc
    state = checkpoint.get('state_dict', checkpoint)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    own = teacher.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    mismatched = {f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state.items()
                  if k in own and hasattr(v, 'shape') and v.shape != own[k].shape}
    if strict and (missing or unexpected or mismatched):
        parts = [f'{name} ({len(keys)}): {_listing(keys)}' for name, keys in
                 (('missing keys', missing), ('unexpected keys', unexpected),
                  ('shape mismatches (checkpoint vs teacher)', mismatched)) if keys]
        raise InputError(f'teacher_ckpt {path} does not fit the teacher config; '
                         + '; '.join(parts) + ' (set teacher_strict=False to load anyway)')
    for key in [k.split(' ')[0] for k in mismatched]:
        state.pop(key)
    _load_checkpoint_to_model(teacher, state, strict=False)

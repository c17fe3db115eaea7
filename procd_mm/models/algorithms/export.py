"""Turn a distiller checkpoint into a plain checkpoint of its student (README, "export")."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import (
    add_digest,
    check_classes,
    describe_mismatch,
    key_mismatch,
    read_checkpoint,
    write_atomically,
)
from procd_mm.utils.dataset_cfgs import config_classes

PREFIX = 'architecture.'


def student_state_dict(checkpoint: dict, source: str = 'checkpoint') -> dict:
    """The ``architecture.*`` entries of a distiller state dict, prefix removed."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        raise InputError(f'{source}: "state_dict" is not a dict of weights')
    student = {k[len(PREFIX):]: v for k, v in state.items()
               if isinstance(k, str) and k.startswith(PREFIX)}
    if not student:
        raise InputError(f'{source} holds no "{PREFIX}*" weights: not a distiller checkpoint')
    return student


def check_student_fits(state: dict, src: str, check_config: str,
                       label: str = 'check_config') -> Config:
    """Refuse unless ``state`` loads strictly into the model of ``check_config`` (named
    ``label`` in the messages: the caller's name for it)."""
    from mmdet.registry import MODELS
    try:
        cfg = Config.fromfile(check_config)
    except Exception as exc:  # mmengine reports a config it cannot read in many types
        raise InputError(f'{label} {check_config} cannot be read: {exc}') from exc
    if 'model' not in cfg:
        raise InputError(f'{label} {check_config} has no model')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    own = MODELS.build(cfg.model).state_dict()
    missing, unexpected, mismatched = key_mismatch(own, state)
    if missing or unexpected or mismatched:
        raise InputError(f'the student of {src} does not fit {label} {check_config}: '
                         + describe_mismatch(missing, unexpected, mismatched))
    return cfg


def export_student(src: str, dst: str, check_config: Optional[str] = None,
                   label: str = 'check_config') -> int:
    """Write the student of ``src`` to ``dst``; optionally check a strict load into the model
    of ``check_config`` first (``label``: the caller's name for it, in the messages)."""
    if check_config is not None and not osp.isfile(check_config):
        raise InputError(f'{label} not found: {check_config}')
    checkpoint = read_checkpoint(src, mmap=False)
    state = student_state_dict(checkpoint, src)
    if check_config:
        cfg = check_student_fits(state, src, check_config, label)
        check_classes(checkpoint, config_classes(cfg, 'train_dataloader'), src,
                      f'{label} {check_config}', 'the distiller checkpoint')
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint.get('meta'), dict) else {}
    meta = {k: v for k, v in meta.items()
            if k in ('dataset_meta', 'epoch', 'iter', 'mmengine_version', 'seed')}
    exported = add_digest({'state_dict': state, 'meta': meta})
    write_atomically(dst, lambda f: torch.save(exported, f))
    return len(state)

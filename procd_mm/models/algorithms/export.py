"""Turn a distiller checkpoint into a plain checkpoint of its student (SPEC §3.4)."""
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from procd_mm.engine.launch import InputError

PREFIX = 'architecture.'


def student_state_dict(checkpoint: dict, source: str = 'checkpoint') -> dict:
    """The ``architecture.*`` entries of a distiller state dict, prefix removed."""
    state = checkpoint.get('state_dict', checkpoint)
    student = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
    if not student:
        raise InputError(f'{source} holds no "{PREFIX}*" weights: not a distiller checkpoint')
    return student


def export_student(src: str, dst: str, check_config: Optional[str] = None) -> int:
    """Write the student of ``src`` to ``dst``; optionally check a strict load first."""
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    state = student_state_dict(checkpoint, src)
    if check_config:
        from mmdet.registry import MODELS
        cfg = Config.fromfile(check_config)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        model = MODELS.build(cfg.model)
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise InputError(f'{src} does not fit {check_config}: missing '
                             f'{result.missing_keys[:10]}, unexpected '
                             f'{result.unexpected_keys[:10]}')
    meta = {k: v for k, v in checkpoint.get('meta', {}).items()
            if k in ('dataset_meta', 'epoch', 'iter', 'mmengine_version', 'seed')}
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save({'state_dict': state, 'meta': meta}, tmp)
    os.replace(tmp, dst)
    return len(state)

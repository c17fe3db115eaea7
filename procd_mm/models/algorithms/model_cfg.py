"""Refer to a detector by its config file: ``dict(cfg_path=..., pretrained=False)``."""
import os.path as osp

from mmengine.config import Config
from mmengine.hub import get_config

from procd_mm.utils import InputError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def resolve_model_cfg(cfg):
    """Return ``cfg``, or the ``model`` of the config file it names.

    As in mmrazor, ``dict(cfg_path='mmdet::faster_rcnn/...py')`` names a config
    of an installed OpenMMLab package; a plain path is read relative to the
    working directory, then to this repository (the tools first anchor paths that
    exist next to the config file, :func:`anchor_relative_paths`). The model keeps the scope of
    its config (``default_scope``), so a teacher from mmdet builds in mmdet; a
    model config without ``_scope_`` is taken as an mmdet model. Other keys beside
    ``cfg_path`` are merged into the model read from the file, as mmengine merges a
    config into its base (``architecture.roi_head.bbox_roi_extractor.finest_scale``
    from ``--cfg-options`` reaches the student of a row).

    ``pretrained=True`` (as in mmrazor) takes the checkpoint that the package's
    metafile lists for the config (``mmengine.hub.get_config(..., pretrained=True)``)
    and sets it as the model's ``init_cfg`` (``Pretrained``); the distiller loads a
    teacher given this way as its ``teacher_ckpt``.
    """
    if not isinstance(cfg, dict):
        return cfg
    if 'cfg_path' not in cfg or 'type' in cfg:
        return dict(cfg, _scope_=cfg.get('_scope_', 'mmdet'))
    path, pretrained = cfg['cfg_path'], cfg.get('pretrained', False)
    if pretrained and '::' not in path:
        raise InputError(f'cfg_path={path!r} with pretrained=True: only configs of installed '
                         "packages ('mmdet::...') list their checkpoints; set init_cfg instead")
    if '::' in path:
        config = get_config(path, pretrained=pretrained)
        if pretrained and not config.get('model_path'):
            raise InputError(f'cfg_path={path!r}: the metafile lists no checkpoint for it '
                             '(pretrained=True)')
    else:
        candidates = [path, osp.join(REPO_ROOT, path)]
        found = next((p for p in candidates if osp.isfile(p)), None)
        if found is None:
            raise InputError(f'cfg_path not found: {path}')
        config = Config.fromfile(found)
    overrides = {k: v for k, v in cfg.items() if k not in ('cfg_path', 'pretrained')}
    if overrides:
        config.merge_from_dict(dict(model=overrides))
    model = config.model
    model.setdefault('_scope_', config.get('default_scope', 'mmdet'))
    if pretrained:
        model.init_cfg = dict(type='Pretrained', checkpoint=config.model_path)
    return model


def pretrained_checkpoint(model_cfg) -> str:
    """The checkpoint of a model resolved with ``pretrained=True`` (else an empty string)."""
    init_cfg = model_cfg.get('init_cfg') if isinstance(model_cfg, dict) else None
    if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
        return init_cfg.get('checkpoint', '')
    return ''


def anchor_relative_paths(model_cfg, config_dir: str) -> None:
    """Make the relative ``cfg_path`` / ``teacher_ckpt`` of a model config that exist next to
    its config file absolute, in place, so that they resolve against the config's directory
    first; others stay as they are (then the working directory, then this repository)."""
    if isinstance(model_cfg, dict):
        for key, value in model_cfg.items():
            if key in ('cfg_path', 'teacher_ckpt') and isinstance(value, str) and value \
                    and '://' not in value and '::' not in value and not osp.isabs(value) \
                    and osp.isfile(osp.join(config_dir, value)):
                model_cfg[key] = osp.abspath(osp.join(config_dir, value))
            else:
                anchor_relative_paths(value, config_dir)
    elif isinstance(model_cfg, (list, tuple)):
        for item in model_cfg:
            anchor_relative_paths(item, config_dir)

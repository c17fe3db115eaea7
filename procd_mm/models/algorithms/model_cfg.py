"""Refer to a detector by its config file: ``dict(cfg_path=..., pretrained=False)``."""
from mmengine.config import Config
from mmengine.hub import get_config

from procd_mm.utils import InputError
from procd_mm.utils.paths import find_file


def resolve_model_cfg(cfg):
    """Return ``cfg``, or the ``model`` of the config file it names.

    As in mmrazor, ``dict(cfg_path='mmdet::faster_rcnn/...py')`` names a config
    of an installed OpenMMLab package; a plain path is found by the project's one rule
    (:mod:`procd_mm.utils.paths`: the config file's directory, which the config loader
    has already applied, then the working directory, then the configs this package
    ships). The model keeps the scope of
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
        found = find_file(path)
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

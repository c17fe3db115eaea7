"""Config loading for the tools, the demo and the visualisation: a config file read, its
``--cfg-options`` merged after checks (every option names an existing key, an argument the
enclosing ``type`` takes, or a new key like no existing one), relative model paths anchored
at the config's directory, and the work dir chosen as mmdet's tools choose it."""
import difflib
import inspect
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

from procd_mm.utils import InputError
from procd_mm.utils.dataset_cfgs import config_classes, leaf_dataset_cfgs  # noqa: F401
from procd_mm.utils.paths import find_file, is_relative_local

PATH_KEYS = ('cfg_path', 'teacher_ckpt')


def parse_cfg_options(entries: Optional[Sequence[str]]) -> dict:
    """``--cfg-options`` entries (``KEY=VALUE``) to a dict, as mmengine's ``DictAction``, except
    that a single value keeps its spaces (``data_root=/data/my city/``)."""
    options = {}
    for entry in entries or ():
        key, sep, value = entry.partition('=')
        if not sep or not key:
            raise InputError(f'--cfg-options: {entry!r} is not KEY=VALUE')
        scalar = value.strip('\'"')
        if ' ' in scalar and not scalar.startswith(('[', '(')) and ',' not in scalar:
            # one value with spaces (a path): mmengine's parser would delete them
            options[key] = DictAction._parse_int_float_bool(scalar)
            continue
        try:
            options[key] = DictAction._parse_iterable(value)
        except AssertionError as exc:  # mmengine asserts balanced brackets
            raise InputError(f'--cfg-options {entry}: {exc}') from None
    return options


def load_config(path: str, cfg_options=None) -> Config:
    """Read a config file and merge ``--cfg-options`` (a dict or ``KEY=VALUE`` strings).

    Each option must name an existing key, a new argument that the ``type`` of the
    enclosing dict accepts, or a new key that looks like no existing one; a value
    replacing a number or a boolean must be one.
    """
    if not osp.isfile(path):
        raise InputError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:  # mmengine reports syntax/inheritance errors in many types
        reason = ' '.join(str(exc).split()) or type(exc).__name__  # one line
        raise InputError(f'cannot read config {path}: {reason}') from None
    if cfg_options:
        if not isinstance(cfg_options, dict):
            cfg_options = parse_cfg_options(cfg_options)
        for key, value in cfg_options.items():
            parents = ['.'.join(key.split('.')[:i]) for i in range(1, key.count('.') + 1)]
            clash = next((p for p in parents if p in cfg_options
                          and not isinstance(cfg_options[p], dict)), None)
            if clash is not None:
                raise InputError(f'--cfg-options {key}: {clash} is set to '
                                 f'{cfg_options[clash]!r} by another option')
            _check_option(cfg._cfg_dict, key, value)
        cfg.merge_from_dict(cfg_options)
    if 'model' in cfg:
        anchor_relative_paths(cfg.model, osp.dirname(osp.abspath(path)))
    return cfg


def anchor_relative_paths(model_cfg, config_dir: str) -> None:
    """Make every relative ``cfg_path`` / ``teacher_ckpt`` of a model config absolute, in
    place, where the project's path rule (:mod:`procd_mm.utils.paths`) finds the file from
    ``config_dir``; a path it finds nowhere stays as written, for the error that names it."""
    if isinstance(model_cfg, dict):
        for key, value in model_cfg.items():
            if key in PATH_KEYS and is_relative_local(value):
                model_cfg[key] = find_file(value, config_dir) or value
            else:
                anchor_relative_paths(value, config_dir)
    elif isinstance(model_cfg, (list, tuple)):
        for item in model_cfg:
            anchor_relative_paths(item, config_dir)


def _check_option(root: dict, key: str, value) -> None:
    node, path = root, []
    for part in key.split('.'):
        where = '.'.join(path) or 'the config'
        if isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                raise InputError(f'--cfg-options {key}: {where} is a list of {len(node)}; '
                                 f'{part!r} is not an index of it')
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                _check_new_key(node, path, part, key)
                return
            node = node[part]
        else:
            raise InputError(f'--cfg-options {key}: {where} is {node!r}, not a dict')
        path.append(part)
    _check_value(key, node, value)


def _check_new_key(node: dict, path: list, part: str, key: str) -> None:
    if part.startswith('_'):
        return
    where = '.'.join(path) or 'the config'
    close = difflib.get_close_matches(part, [k for k in node if isinstance(k, str)], n=1,
                                      cutoff=0.8)
    hint = f' (did you mean {".".join(path + close[:1])}?)' if close else ''
    obj_type = node.get('type')
    classes = _registered(obj_type) if isinstance(obj_type, str) else []
    if classes:
        if not any(_accepts(cls, part) for cls in classes):
            raise InputError(f'--cfg-options {key}: {where} ({obj_type}) takes no argument '
                             f'{part!r}{hint}')
    elif close:
        raise InputError(f'--cfg-options {key}: {where} has no key {part!r}{hint}')


def _check_value(key: str, old, new) -> None:
    if old is None or new is None:
        return
    if isinstance(old, bool):
        ok = isinstance(new, bool)
    elif isinstance(old, int):
        ok = (isinstance(new, int) and not isinstance(new, bool)) or \
             (isinstance(new, float) and new.is_integer())
    elif isinstance(old, float):
        ok = isinstance(new, (int, float)) and not isinstance(new, bool)
    else:
        return
    if not ok:
        raise InputError(f'--cfg-options {key}={new}: expected {type(old).__name__} '
                         f'(the config has {old!r})')


def _registries() -> list:
    import mmdet.registry
    import mmengine.registry
    from mmengine.registry import Registry
    modules = [mmengine.registry, mmdet.registry]
    try:
        import mmrazor.registry
        modules.append(mmrazor.registry)
    except ImportError:
        pass
    return [v for m in modules for v in vars(m).values() if isinstance(v, Registry)]


def _registered(obj_type: str) -> list:
    name = obj_type.rsplit('.', 1)[-1]
    return [reg.module_dict[name] for reg in _registries() if name in reg.module_dict]


def _accepts(obj, name: str) -> bool:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind == p.VAR_KEYWORD or p.name == name for p in params)


def default_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """CLI ``--work-dir`` > ``work_dir`` in the config > ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])

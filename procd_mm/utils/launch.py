"""What ``tools/train.py`` and ``tools/test.py`` do before mmengine takes over.

mmdet's tools hand a config straight to ``Runner``, which creates the work dir,
the log and a copy of the config, prints the environment, and only then builds
the model; the datasets are built later still, when training starts. A bad input
then surfaces as a stack trace from deep inside mmengine, after the work dir was
written. Here the inputs are checked and the model, datasets and evaluators are
built *first*; a problem is an :class:`InputError` whose message names the file,
key or value at fault, and the runner (which writes) is created only when all of
that succeeded (docs/reliability.md).

Distributed runs also work on machines without CUDA (gloo process group, DDP
without ``device_ids``).
"""
import copy
import difflib
import inspect
import json
import os
import os.path as osp
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from .errors import InputError

__all__ = ['InputError', 'parse_cfg_options', 'load_config', 'check_checkpoint', 'check_data',
           'check_out_file', 'setup_distributed', 'default_work_dir', 'build_runner',
           'set_local_rank']


# ------------------------------------------------------------------ config and options


def parse_cfg_options(entries: Optional[Sequence[str]]) -> dict:
    """``--cfg-options`` entries (``KEY=VALUE``) to a dict, as mmengine's ``DictAction``."""
    options = {}
    for entry in entries or ():
        key, sep, value = entry.partition('=')
        if not sep or not key:
            raise InputError(f'--cfg-options: {entry!r} is not KEY=VALUE')
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
        from procd_mm.models.algorithms.model_cfg import anchor_relative_paths
        anchor_relative_paths(cfg.model, osp.dirname(osp.abspath(path)))
    return cfg


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


# ------------------------------------------------------------------ files


def check_checkpoint(path: str, what: str = 'checkpoint') -> None:
    """Fail early, naming ``path``, if it is missing, empty, corrupt, refused or not a dict."""
    from .checkpoint_io import is_remote, read_checkpoint
    if not is_remote(path):
        read_checkpoint(path, what)


def _dataset_cfgs(dataset_cfg) -> Iterator[dict]:
    """Yield every leaf dataset config below dataset wrappers."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from _dataset_cfgs(sub)
    elif 'dataset' in dataset_cfg:
        yield from _dataset_cfgs(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def _ann_path(ds: dict) -> Optional[str]:
    ann = ds.get('ann_file')
    if not ann:
        return None
    root = ds.get('data_root') or ''
    return ann if osp.isabs(ann) else osp.join(root, ann)


def check_data(cfg: Config, loaders=('train_dataloader', 'val_dataloader', 'test_dataloader')):
    """Check that the local data roots and annotation files of the given loaders exist.

    URI roots and files (``s3://``, ``http(s)://``) are left to the file backend.
    """
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _dataset_cfgs(loader_cfg.get('dataset')):
            root = ds.get('data_root') or ''
            if '://' in root:  # s3://, http(s)://: read through backend_args, as in mmdet
                continue
            if root and not osp.isdir(root):
                raise InputError(f'{loader}.dataset.data_root does not exist: {root}')
            ann_path = _ann_path(ds)
            if ann_path and '://' not in ann_path and not osp.isfile(ann_path):
                raise InputError(f'{loader}.dataset.ann_file does not exist: {ann_path}')
        evaluator = cfg.get(loader.replace('dataloader', 'evaluator'))
        for i, metric in enumerate(evaluator if isinstance(evaluator, list) else [evaluator]):
            ann = metric.get('ann_file') if isinstance(metric, dict) else None
            if ann and '://' not in ann and not osp.isfile(ann):
                name = loader.replace('dataloader', 'evaluator')
                name += f'.{i}' if isinstance(evaluator, list) else ''
                raise InputError(f'{name}.ann_file does not exist: {ann}')


def check_out_file(path: str, what: str = '--out') -> None:
    """Fail, naming ``path``, if a file cannot be created there (checked, nothing is left)."""
    parent = osp.dirname(osp.abspath(path))
    existing = parent
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        raise InputError(f'{what} {path}: {existing} is not a directory')
    if osp.isdir(path):
        raise InputError(f'{what} {path} is a directory')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f'{what} {path}: {existing} is not writable')
    try:  # the permission bits do not tell everything (read-only mounts, root squash)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise InputError(f'{what} {path}: cannot write in {existing}: {exc.strerror}') from None


# ------------------------------------------------------------------ launching


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher``; without CUDA, start a gloo group mmengine will reuse."""
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    if wrapper['type'] == 'MMDistributedDataParallel':  # SyncBN on CPU: CPUSyncBatchNorm
        wrapper['type'] = 'CPUDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def finish_distributed() -> None:
    """Leave the process group together: without it a gloo rank can abort at exit.

    An interpreter that exits while gloo's threads still hold the group ends in
    ``terminate called without an active exception`` (SIGABRT) on some rank, which
    turns a finished run into a failed one.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def default_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """CLI ``--work-dir`` > ``work_dir`` in the config > ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


_UNKNOWN = re.compile(r'^(\S+) is not in the (\S+) registry')


def _type_paths(node, name: str, path: str = '') -> Iterator[str]:
    if isinstance(node, dict):
        if node.get('type') == name:
            yield f'{path}.type' if path else 'type'
        for k, v in node.items():
            yield from _type_paths(v, name, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _type_paths(v, name, f'{path}.{i}')


def _unknown_type(exc: KeyError, cfg_node, prefix: str) -> Optional[str]:
    """The one-line form of a registry's "X is not in the Y registry", or ``None``."""
    match = _UNKNOWN.match(str(exc.args[0]) if exc.args else '')
    if not match:
        return None
    name, registry = match.groups()
    where = next(_type_paths(cfg_node, name, prefix), None)
    if where is None:  # not a type the config names: a bug of the code that built it
        return None
    return f'{where}={name!r}: unknown type (not in the {registry} registry)'


_SIGNATURE = re.compile(r"(got an unexpected keyword argument|missing \d+ required "
                        r"(positional|keyword-only) argument)")


def _check_registered_types(cfg: Config) -> None:
    """Types the runner builds after it has written to the work dir: checked up front."""
    from mmengine.registry import (
        HOOKS,
        LOOPS,
        OPTIM_WRAPPERS,
        OPTIMIZERS,
        PARAM_SCHEDULERS,
    )
    checks = []
    for name, hook in (cfg.get('default_hooks') or {}).items():
        checks.append((HOOKS, f'default_hooks.{name}', hook))
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        checks.append((HOOKS, f'custom_hooks.{i}', hook))
    for key in ('train_cfg', 'val_cfg', 'test_cfg'):
        checks.append((LOOPS, key, cfg.get(key)))
    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, dict):
        checks.append((OPTIM_WRAPPERS, 'optim_wrapper', wrapper))
        checks.append((OPTIMIZERS, 'optim_wrapper.optimizer', wrapper.get('optimizer')))
    schedulers = cfg.get('param_scheduler')
    for i, sched in enumerate(schedulers if isinstance(schedulers, list) else [schedulers]):
        checks.append((PARAM_SCHEDULERS, f'param_scheduler.{i}', sched))
    for registry, key, item in checks:
        obj_type = item.get('type') if isinstance(item, dict) else None
        if not isinstance(obj_type, str):
            continue
        with registry.switch_scope_and_registry(item.get('_scope_')) as reg:
            if reg.get(obj_type) is None:
                raise InputError(f'{key}.type={obj_type!r}: unknown type (not in the '
                                 f'{reg.scope}::{reg.name} registry)')


def _build_model(cfg: Config, config_path: str) -> torch.nn.Module:
    from mmengine.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(model_cfg, dict) and cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    try:
        return MODELS.build(model_cfg)
    except KeyError as exc:
        message = _unknown_type(exc, cfg.model, 'model')
        if message is None:
            raise
        raise InputError(f'{config_path}: {message}') from None
    except TypeError as exc:  # a config argument the class does not take, or lacks
        if not (_SIGNATURE.search(str(exc)) and _raised_by_the_registry(exc)):
            raise
        raise InputError(f'{config_path}: model: {exc}') from None


def _raised_by_the_registry(exc: BaseException) -> bool:
    """Whether ``exc`` came from the registry's call of a class with the config's arguments.

    A signature mismatch of that call is raised in the registry's own frame (the class's
    ``__init__`` never starts); one raised deeper is a bug of the code being built.
    """
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return osp.join('mmengine', 'registry') in tb.tb_frame.f_code.co_filename


def _json_culprit(paths: Sequence[str]) -> Optional[str]:
    """The first of ``paths`` that is not valid JSON, with the reason."""
    for path in paths:
        try:
            with open(path, 'rb') as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            return f'{path} is not valid JSON ({exc}); is it truncated?'
    return None


def _leaf_datasets(dataset) -> Iterator:
    for attr in ('datasets',):
        if isinstance(getattr(dataset, attr, None), (list, tuple)):
            for sub in getattr(dataset, attr):
                yield from _leaf_datasets(sub)
            return
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset and hasattr(inner, '__len__'):
        yield from _leaf_datasets(inner)
        return
    yield dataset


def _check_dataset(loader: str, dataset) -> None:
    """Classes that the annotation file lacks; images that are missing or empty."""
    for ds in _leaf_datasets(dataset):
        classes = (getattr(ds, 'metainfo', None) or {}).get('classes')
        cat_ids = getattr(ds, 'cat_ids', None)  # mmdet's CocoDataset: ids of the classes found
        ann_file = getattr(ds, 'ann_file', None)
        if classes and cat_ids is not None and len(cat_ids) < len(classes) and ann_file:
            with open(ann_file, 'rb') as f:
                names = [c.get('name') for c in json.load(f).get('categories', [])]
            absent = [c for c in classes if c not in names]
            raise InputError(f'{loader}: classes {absent} of the config are not categories of '
                             f'{ann_file} (it has {names})')
        if getattr(ds, 'backend_args', None) or not getattr(ds, '_fully_initialized', True):
            continue
        paths = [ds.get_data_info(i).get('img_path') for i in range(len(ds))]
        paths = [p for p in paths if p and '://' not in str(p)]
        with ThreadPoolExecutor(max_workers=16) as pool:  # stat latency of network file systems
            sizes = list(pool.map(_size, paths))
        for path, size in zip(paths, sizes):
            if size is None:
                raise InputError(f'{loader}: image not found: {path}')
            if size == 0:
                raise InputError(f'{loader}: image {path} is empty (0 bytes)')


def _size(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_size if osp.isfile(path) else None
    except OSError:
        return None


def _build_loader(cfg: Config, loader: str, seed: int, diff_rank_seed: bool):
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.get(loader))
    try:
        built = Runner.build_dataloader(loader_cfg, seed=seed, diff_rank_seed=diff_rank_seed)
    except (ValueError, UnicodeDecodeError):
        ann_files = [p for p in map(_ann_path, _dataset_cfgs(cfg.get(loader).get('dataset')))
                     if p and p.endswith('.json')]
        culprit = _json_culprit(ann_files)
        if culprit is None:
            raise
        raise InputError(f'{loader}.dataset.ann_file {culprit}') from None
    except KeyError as exc:
        message = _unknown_type(exc, cfg.get(loader), loader)
        if message is None:
            raise
        raise InputError(message) from None
    _check_dataset(loader, built.dataset)
    return built


def _build_evaluator(cfg: Config, key: str):
    from mmengine.evaluator import Evaluator
    from mmengine.registry import EVALUATOR
    evaluator = copy.deepcopy(cfg.get(key))
    try:
        if isinstance(evaluator, dict) and 'metrics' in evaluator:
            evaluator.setdefault('type', 'Evaluator')
            return EVALUATOR.build(evaluator)
        return Evaluator(evaluator)
    except (ValueError, UnicodeDecodeError):
        metrics = evaluator if isinstance(evaluator, list) else [evaluator]
        culprit = _json_culprit([m['ann_file'] for m in metrics
                                 if isinstance(m, dict) and m.get('ann_file')])
        if culprit is None:
            raise
        raise InputError(f'{key}.ann_file {culprit}') from None
    except KeyError as exc:
        message = _unknown_type(exc, cfg.get(key), key)
        if message is None:
            raise
        raise InputError(message) from None


_LOOPS = {'train': ('train_dataloader', 'train_cfg', None),
          'val': ('val_dataloader', 'val_cfg', 'val_evaluator'),
          'test': ('test_dataloader', 'test_cfg', 'test_evaluator')}


def build_runner(cfg: Config, config_path: str, loops: Sequence[str] = ('train', 'val'),
                 check_model: Optional[Callable[[torch.nn.Module], None]] = None):
    """Build the model, the data of ``loops`` and their evaluators, then the runner.

    Everything that can fail on user input (unknown types, the model's own checks
    such as the teacher checkpoint, ``check_model`` (e.g. that a checkpoint fits),
    annotation files, classes, images) fails here, before the runner creates the
    work dir, the log and the config copy. The random state the runner's seeding
    would give the model is reproduced, so results equal those of
    ``Runner.from_cfg``.
    """
    from mmengine.dist import sync_random_seed
    from mmengine.registry import RUNNERS, init_default_scope
    from mmengine.runner import set_random_seed

    from procd_mm.engine.hooks.rng_state_hook import capture_rng_state, restore_rng_state

    runner_type = cfg.get('runner_type', 'Runner')
    runner_cls = RUNNERS.get(runner_type) if isinstance(runner_type, str) else None
    if runner_cls is None:
        raise InputError(f'runner_type={runner_type!r}: unknown runner type')
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    _check_registered_types(cfg)
    launcher = cfg.get('launcher', 'none')
    if launcher != 'none' and not dist.is_initialized():
        from mmengine.dist import init_dist
        init_dist(launcher, **(cfg.get('env_cfg') or {}).get('dist_cfg', {}))

    randomness = dict(cfg.get('randomness') or dict(seed=None))
    if randomness.get('seed') is None:
        randomness['seed'] = sync_random_seed()
    seed = set_random_seed(randomness['seed'], randomness.get('deterministic', False),
                           randomness.get('diff_rank_seed', False))
    model = _build_model(cfg, config_path)
    if check_model is not None:
        check_model(model)
    after_model = capture_rng_state()

    built = {}
    for loop in loops:
        loader, loop_cfg, evaluator = _LOOPS[loop]
        wanted = [k for k in (loader, loop_cfg, evaluator) if k]
        if not all(cfg.get(k) is not None for k in wanted):
            continue
        built[loader] = _build_loader(cfg, loader, seed, randomness.get('diff_rank_seed', False))
        if evaluator:
            built[evaluator] = _build_evaluator(cfg, evaluator)

    kwargs = dict(
        work_dir=cfg['work_dir'],
        train_dataloader=cfg.get('train_dataloader'),
        val_dataloader=cfg.get('val_dataloader'),
        test_dataloader=cfg.get('test_dataloader'),
        train_cfg=cfg.get('train_cfg'),
        val_cfg=cfg.get('val_cfg'),
        test_cfg=cfg.get('test_cfg'),
        auto_scale_lr=cfg.get('auto_scale_lr'),
        optim_wrapper=cfg.get('optim_wrapper'),
        param_scheduler=cfg.get('param_scheduler'),
        val_evaluator=cfg.get('val_evaluator'),
        test_evaluator=cfg.get('test_evaluator'),
        default_hooks=cfg.get('default_hooks'),
        custom_hooks=cfg.get('custom_hooks'),
        data_preprocessor=cfg.get('data_preprocessor'),
        load_from=cfg.get('load_from'),
        resume=cfg.get('resume', False),
        launcher=launcher,
        env_cfg=cfg.get('env_cfg', dict(dist_cfg=dict(backend='nccl'))),
        log_processor=cfg.get('log_processor'),
        log_level=cfg.get('log_level', 'INFO'),
        visualizer=cfg.get('visualizer'),
        default_scope=cfg.get('default_scope', 'mmengine'),
        randomness=randomness,
        experiment_name=cfg.get('experiment_name'),
        cfg=cfg)
    kwargs.update(built, model=model)
    runner = runner_cls(**kwargs)
    restore_rng_state(after_model)  # the runner re-seeded; go on as Runner.from_cfg would
    return runner


def set_local_rank(local_rank: int) -> None:
    """Mirror ``--local-rank`` into ``LOCAL_RANK`` as mmdet's tools do."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))

"""Checks the tools run before a runner writes anything (docs/reliability.md): files and data
roots exist, checkpoints are readable, the types a runner builds late are registered, and the
model, datasets and evaluators build. A problem is an :class:`InputError` naming the file, key
or value at fault; what mmengine raises for a user error (an unknown registry type, a config
argument a class does not take, an annotation file that is not JSON) is told apart from a bug
and turned into one line here."""
import copy
import json
import os
import os.path as osp
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from procd_mm.compat_seams import SIGNATURE_MISMATCH, UNKNOWN_TYPE, raised_by_the_registry
from procd_mm.datasets.coco_annotations import check_coco_annotations
from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import is_remote, read_checkpoint
from procd_mm.utils.dataset_cfgs import leaf_dataset_cfgs


def check_checkpoint(path: str, what: str = 'checkpoint') -> None:
    """Fail early, naming ``path``, if it is missing, empty, corrupt, refused or not a dict."""
    if not is_remote(path):
        read_checkpoint(path, what)


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
        for ds in leaf_dataset_cfgs(loader_cfg.get('dataset')):
            root = ds.get('data_root') or ''
            if '://' in root:  # s3://, http(s)://: read through backend_args, as in mmdet
                continue
            if root and osp.exists(root) and not osp.isdir(root):
                raise InputError(f'{loader}.dataset.data_root is a file, not a directory: '
                                 f'{root}')
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
    match = UNKNOWN_TYPE.match(str(exc.args[0]) if exc.args else '')
    if not match:
        return None
    name, registry = match.groups()
    where = next(_type_paths(cfg_node, name, prefix), None)
    if where is None:  # not a type the config names: a bug of the code that built it
        return None
    return f'{where}={name!r}: unknown type (not in the {registry} registry)'


def check_registered_types(cfg: Config) -> None:
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
    """The built datasets below mmengine's wrappers (``.datasets``, ``.dataset``); their
    configs are unwrapped by :func:`leaf_dataset_cfgs`."""
    if isinstance(getattr(dataset, 'datasets', None), (list, tuple)):
        for sub in dataset.datasets:
            yield from _leaf_datasets(sub)
        return
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset and hasattr(inner, '__len__'):
        yield from _leaf_datasets(inner)
        return
    yield dataset


def _check_dataset(loader: str, dataset) -> None:
    """Classes that the annotation file lacks; images that are missing, empty or not images."""
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
            probes = list(pool.map(_probe, paths))
        for path, (size, decodable) in zip(paths, probes):
            if size is None:
                raise InputError(f'{loader}: image not found: {path}')
            if size == 0:
                raise InputError(f'{loader}: image {path} is empty (0 bytes)')
            if not decodable:
                raise InputError(f'{loader}: image {path} is not an image (it does not decode)')


# the first bytes of the formats mmcv reads (PNG, JPEG, BMP, TIFF, WebP, GIF)
_SIGNATURES = (b'\x89PNG\r\n\x1a\n', b'\xff\xd8\xff', b'BM', b'II*\x00', b'MM\x00*', b'GIF8')


def _probe(path: str) -> Tuple[Optional[int], bool]:
    """(size or None when missing, whether it is an image): a known signature in the first
    bytes, else a full decode by mmcv (for formats without one listed here)."""
    try:
        if not osp.isfile(path):
            return None, False
        size = os.stat(path).st_size
        with open(path, 'rb') as f:
            head = f.read(16)
            if head.startswith(_SIGNATURES) or (head[:4] == b'RIFF' and head[8:12] == b'WEBP'):
                return size, True
            if not size:
                return size, False
            f.seek(0)
            data = f.read()
    except OSError:
        return None, False
    import mmcv
    try:
        return size, mmcv.imfrombytes(data) is not None
    except Exception:  # cv2 / Pillow reject undecodable bytes in many types
        return size, False


@contextmanager
def user_errors(key: str, cfg_node, json_files: Sequence[str] = (), json_key: str = '',
                prefix: str = ''):
    """Building ``key`` from ``cfg_node``: mmengine's errors that are the config's fault as one
    line (an unknown registry type; one of ``json_files``, read as ``json_key``, that is not
    JSON), others as they are (a bug keeps its traceback)."""
    try:
        yield
    except (ValueError, UnicodeDecodeError):
        culprit = _json_culprit(json_files)
        if culprit is None:
            raise
        raise InputError(f'{prefix}{json_key or key + ".ann_file"} {culprit}') from None
    except KeyError as exc:
        message = _unknown_type(exc, cfg_node, key)
        if message is None:
            raise
        raise InputError(f'{prefix}{message}') from None


def build_model(cfg: Config, config_path: str) -> torch.nn.Module:
    """The config's model (with a top-level ``data_preprocessor``, as the runner builds it)."""
    from mmengine.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(model_cfg, dict) and cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    try:
        with user_errors('model', cfg.model, prefix=f'{config_path}: '):
            model = MODELS.build(model_cfg)
    except TypeError as exc:  # a config argument the class does not take, or lacks
        if not (SIGNATURE_MISMATCH.search(str(exc)) and raised_by_the_registry(exc)):
            raise
        raise InputError(f'{config_path}: model: {exc}') from None
    check_head_widths(model, config_path)
    return model


def _trained_detector(model):
    """(config key, detector) of what trains: a distiller's student (its teacher's heads never
    run), else the model itself."""
    student = getattr(model, 'architecture', None)
    if student is not None and hasattr(model, 'teacher'):
        return 'model.architecture', student
    return 'model', model


def check_head_widths(model, config_path: str) -> None:
    """The heads read as many channels as the neck gives: ``rpn_head`` / ``bbox_head`` (dense)
    ``in_channels`` and the RoI extractors' ``out_channels`` equal ``neck.out_channels``, each
    RoI head's ``in_channels`` its extractor's. Otherwise the first forward would fail, after
    the work dir is written."""
    name, detector = _trained_detector(model)
    width = getattr(getattr(detector, 'neck', None), 'out_channels', None)
    if not isinstance(width, int):
        return
    pairs = [(f'{name}.{head}.in_channels', getattr(getattr(detector, head, None),
                                                   'in_channels', None),
              width, f'{name}.neck.out_channels') for head in ('rpn_head', 'bbox_head')]
    roi_head = getattr(detector, 'roi_head', None)
    for kind in ('bbox', 'mask'):
        extractors = getattr(roi_head, f'{kind}_roi_extractor', None)
        heads = getattr(roi_head, f'{kind}_head', None)
        if extractors is None or heads is None:
            continue
        many = isinstance(extractors, torch.nn.ModuleList)
        extractors = extractors if many else [extractors]
        heads = heads if isinstance(heads, torch.nn.ModuleList) else [heads]
        for i, (extractor, head) in enumerate(zip(extractors, heads)):
            at = f'.{i}' if many else ''
            extractor_key = f'{name}.roi_head.{kind}_roi_extractor{at}.out_channels'
            pairs.append((extractor_key, getattr(extractor, 'out_channels', None), width,
                          f'{name}.neck.out_channels'))
            pairs.append((f'{name}.roi_head.{kind}_head{at}.in_channels',
                          getattr(head, 'in_channels', None),
                          getattr(extractor, 'out_channels', None), extractor_key))
    for key, value, expected, source in pairs:
        if isinstance(value, int) and isinstance(expected, int) and value != expected:
            raise InputError(f'{config_path}: {key}={value} does not match {source}={expected}')


def check_ground_truth(paths: Sequence[str], need_annotations: bool = False) -> None:
    """The COCO ground truth of local JSON ``paths``, checked before a dataset or metric
    reads it; a file that is not JSON is left to the build, which names it."""
    for path in paths:
        if '://' in path or not osp.isfile(path):
            continue
        try:
            with open(path, 'rb') as f:
                coco = json.load(f)
        except (ValueError, UnicodeDecodeError):
            continue
        check_coco_annotations(path, coco, need_annotations)


def build_dataloader(cfg: Config, loader: str, seed: int, diff_rank_seed: bool):
    """The loader as the runner builds it, its ground truth and datasets checked (the
    annotations, the classes, the images)."""
    from mmengine.runner import Runner
    ann_files = [p for p in map(_ann_path, leaf_dataset_cfgs(cfg.get(loader).get('dataset')))
                 if p and p.endswith('.json')]
    check_ground_truth(ann_files)
    with user_errors(loader, cfg.get(loader), ann_files, f'{loader}.dataset.ann_file'):
        built = Runner.build_dataloader(copy.deepcopy(cfg.get(loader)), seed=seed,
                                        diff_rank_seed=diff_rank_seed)
    _check_dataset(loader, built.dataset)
    return built


def build_evaluator(cfg: Config, key: str):
    """The evaluator as the runner builds it (a list of metrics, or one ``Evaluator`` dict)."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import EVALUATOR
    evaluator = copy.deepcopy(cfg.get(key))
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    ann_files = [m['ann_file'] for m in metrics if isinstance(m, dict) and m.get('ann_file')]
    check_ground_truth([p for p in ann_files if p.endswith('.json')], need_annotations=True)
    with user_errors(key, cfg.get(key), ann_files):
        if isinstance(evaluator, dict) and 'metrics' in evaluator:
            evaluator.setdefault('type', 'Evaluator')
            return EVALUATOR.build(evaluator)
        return Evaluator(evaluator)

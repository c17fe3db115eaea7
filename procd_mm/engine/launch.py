"""What ``tools/train.py`` and ``tools/test.py`` do before mmengine takes over.

mmdet's tools hand a config straight to ``Runner``; a wrong path then surfaces as
a stack trace from deep inside mmengine, possibly after the work dir was touched.
These helpers check the user's inputs first and raise :class:`InputError` with a
message naming the file or key at fault, and make distributed runs work on
machines without CUDA (gloo process group, DDP without ``device_ids``).
"""
import os
import os.path as osp
import zipfile
from typing import Iterator, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config


class InputError(Exception):
    """A user input (config, data root, checkpoint, option) that cannot be used."""


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it."""
    if not osp.isfile(path):
        raise InputError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:  # mmengine reports syntax/inheritance errors in many types
        raise InputError(f'cannot read config {path}: {exc}') from exc
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_checkpoint(path: str, what: str = 'checkpoint') -> None:
    """Fail early, naming ``path``, if it is missing or cannot be unpickled."""
    if path.startswith(('http://', 'https://', 's3://')):
        return
    if not osp.isfile(path):
        raise InputError(f'{what} not found: {path}')
    try:
        torch.load(path, map_location='cpu', mmap=zipfile.is_zipfile(path), weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f'{what} {path} is corrupt or not a checkpoint: {reason}') from exc


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


def check_data(cfg: Config, loaders=('train_dataloader', 'val_dataloader', 'test_dataloader')):
    """Check that the data roots and annotation files of the given loaders exist."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _dataset_cfgs(loader_cfg.get('dataset')):
            root = ds.get('data_root') or ''
            if root and not osp.isdir(root):
                raise InputError(f'{loader}.dataset.data_root does not exist: {root}')
            ann = ds.get('ann_file')
            if ann:
                ann_path = ann if osp.isabs(ann) else osp.join(root, ann)
                if not osp.isfile(ann_path):
                    raise InputError(f'{loader}.dataset.ann_file does not exist: {ann_path}')


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


def default_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """CLI ``--work-dir`` > ``work_dir`` in the config > ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def build_runner(cfg: Config, config_path: str):
    """Build the runner of ``cfg``; a config that does not build is an :class:`InputError`."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    except (KeyError, ValueError, TypeError) as exc:  # mmengine re-raises build errors as is
        raise InputError(f'{config_path}: {exc}') from exc


def set_local_rank(local_rank: int) -> None:
    """Mirror ``--local-rank`` into ``LOCAL_RANK`` as mmdet's tools do."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))

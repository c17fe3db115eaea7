"""Distributed set-up of the tools, also on machines without CUDA: a gloo process group that
mmengine reuses and DDP without ``device_ids`` (mmengine's ``init_dist`` calls
``torch.cuda.set_device``)."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config

from procd_mm.utils import InputError

# what torchrun sets for each process, and mmengine's pytorch launcher reads
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher``; without CUDA, start a gloo group mmengine will reuse.

    ``--launcher pytorch`` outside ``torchrun`` (no ``RANK``, ...) is one line.
    """
    if launcher == 'pytorch':
        unset = [name for name in TORCHRUN_ENV if not os.environ.get(name)]
        if unset:
            raise InputError(f'--launcher pytorch: {", ".join(unset)} not set; start the tool '
                             'with torchrun (tools/dist_train.sh CONFIG NPROC), or without '
                             '--launcher for one process')
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


def set_local_rank(local_rank: int) -> None:
    """Mirror ``--local-rank`` into ``LOCAL_RANK`` as mmdet's tools do."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))

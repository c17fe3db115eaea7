"""A training's hold on its work dir: a second training into a work dir in use stops with one
line naming the one running, before it writes anything.

The hold is an exclusive ``flock`` on ``<work_dir>/.train.lock``, taken by rank 0 after the
pre-flight checks and kept until the process ends. The kernel drops it when the process
dies, however it dies, so a crash (``kill -9`` included) leaves no hold that blocks a
``--resume``; the file stays behind with the last holder's pid, host, config and start time,
which is what the message of a refused run quotes. A work dir on a remote backend
(``s3://``, ...) cannot be locked and is left as mmengine handles it.
"""
import errno
import fcntl
import json
import os
import os.path as osp
import socket
import time
from typing import Optional

import torch.distributed as dist

from procd_mm.utils import InputError

LOCK_NAME = '.train.lock'


class WorkDirLock:
    """Exclusive hold of ``work_dir`` by one training (its rank 0) while it runs.

    Args:
        work_dir: the run's work dir (created by :meth:`acquire` if missing).
        config: the run's config file, quoted to a refused run.
    """

    def __init__(self, work_dir: str, config: str):
        self.work_dir = work_dir
        self.config = config
        self.path = osp.join(work_dir, LOCK_NAME)
        self.local = '://' not in str(work_dir)
        self._fd: Optional[int] = None

    def check_free(self) -> None:
        """Raise :class:`InputError` if a running training holds the work dir; take nothing
        and create nothing (run before a bare ``--resume`` picks a checkpoint that the
        running training may be about to replace)."""
        if not self.local or not osp.isfile(self.path):
            return
        fd = os.open(self.path, os.O_RDONLY)
        self._lock_or_refuse(fd)
        os.close(fd)  # closing drops the hold just taken

    def acquire(self) -> None:
        """Take the hold on rank 0 (all ranks learn the outcome); raise :class:`InputError`
        naming the running training if another process holds it."""
        refusal = None
        if not dist.is_initialized() or dist.get_rank() == 0:
            try:
                self._take()
            except InputError as exc:
                refusal = str(exc)
        if dist.is_initialized() and dist.get_world_size() > 1:
            shared = [refusal]
            dist.broadcast_object_list(shared, src=0)
            refusal = shared[0]
        if refusal is not None:
            raise InputError(refusal)

    def _take(self) -> None:
        if not self.local:
            return
        os.makedirs(self.work_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self._lock_or_refuse(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(dict(pid=os.getpid(), host=socket.gethostname(),
                                     config=self.config,
                                     started=time.strftime('%Y-%m-%d %H:%M:%S'))).encode())
        os.fsync(fd)
        self._fd = fd

    def _lock_or_refuse(self, fd: int) -> None:
        """Take the exclusive hold through ``fd``; if another open file holds it, close ``fd``
        and raise :class:`InputError` naming the holder."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise InputError(f'work dir {self.work_dir} is in use by a running training '
                                 f'({self._holder()}); wait for it to end or choose another '
                                 'work dir') from None
            raise

    def _holder(self) -> str:
        try:
            with open(self.path, encoding='utf-8') as f:
                holder = json.load(f)
            return (f'pid {holder["pid"]} on {holder["host"]}, config {holder["config"]}, '
                    f'started {holder["started"]}')
        except (OSError, ValueError, KeyError, TypeError):
            return f'holder of {self.path}'

    def release(self) -> None:
        """Give the hold up (the process's end does it too); the file stays."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

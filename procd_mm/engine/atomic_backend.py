"""A local file backend whose writes are atomic (temporary file, then rename).

Registered with mmengine's file backends as ``atomic_local``; selected by
``AtomicCheckpointHook`` (or by ``backend_args=dict(backend='atomic_local')`` on
any mmengine component that writes through a file backend).
"""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from ..utils.checkpoint_io import write_atomically


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` / ``put_text`` never leave a partial file."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_atomically(str(filepath), lambda f: f.write(obj), 'wb')

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        write_atomically(str(filepath), lambda f: f.write(obj.encode(encoding)), 'wb')


register_backend('atomic_local', AtomicLocalBackend, force=True)

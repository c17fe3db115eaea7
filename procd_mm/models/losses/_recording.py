"""Recording contexts shared by the ``L_emb`` terms that read mmrazor recorders.

``ProCKD.loss`` runs the teacher's ``extract_feat`` inside ``teacher_recording()`` (under
``torch.no_grad()``) and the student's forward inside ``student_recording()``; the recorders
(mmrazor ``RecorderManager``) record only inside those contexts, so nothing is recorded in
evaluation, in other forwards, or when a gradient-checkpointed block recomputes its forward
during the backward pass.
"""
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from mmengine.registry import DefaultScope
from mmrazor.models.task_modules import RecorderManager
from torch import Tensor

from procd_mm.utils import InputError


def build_recorder_manager(recorders: Dict[str, Dict]) -> RecorderManager:
    """An mmrazor ``RecorderManager`` built in mmrazor's scope (whatever the caller's)."""
    with DefaultScope.overwrite_default_scope('mmrazor'):
        return RecorderManager(recorders)


def map_tensors(obj: Any, fn) -> Any:
    """Apply ``fn`` to every tensor in nested tuples / lists / dicts (other leaves kept)."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return type(obj)((k, map_tensors(v, fn)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, '_fields'):  # namedtuple
        return type(obj)(*(map_tensors(v, fn) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    return obj


def first_tensor(obj: Any) -> Optional[Tensor]:
    """The first tensor found in nested tuples / lists / dicts, or None."""
    if isinstance(obj, Tensor):
        return obj
    values = obj.values() if isinstance(obj, dict) else obj \
        if isinstance(obj, (tuple, list)) else ()
    for value in values:
        found = first_tensor(value)
        if found is not None:
            return found
    return None


def map_buffers(manager: RecorderManager, fn) -> None:
    """Replace every recorded tensor of ``manager``'s recorders by ``fn(tensor)``, in place."""
    for recorder in manager.recorders.values():
        buffer = recorder.data_buffer
        buffer[:] = [map_tensors(record, fn) for record in buffer]


def _to_float32(t: Tensor) -> Tensor:
    return t.float() if t.is_floating_point() else t


def buffers_to_float32(*managers: RecorderManager) -> Optional[str]:
    """Cast the recorded floating tensors to float32; return the device type of one of them."""
    device_type = None
    for manager in managers:
        map_buffers(manager, _to_float32)
        for recorder in manager.recorders.values():
            found = first_tensor(recorder.data_buffer)
            if found is not None and device_type is None:
                device_type = found.device.type
    return device_type


@contextmanager
def autocast_disabled(device_type: Optional[str]) -> Iterator[None]:
    """Autocast off on ``device_type`` (no-op when None)."""
    if device_type is None:
        yield
    else:
        with torch.autocast(device_type=device_type, enabled=False):
            yield


class RecordingMixin:
    """``student_recording()`` / ``teacher_recording()`` around two mmrazor recorder managers.

    A subclass implements :meth:`recorder_managers` (``(student, teacher)``) and calls
    :meth:`_initialize_recorders` once from its ``attach``. Teacher records are detached when
    the teacher's context exits (they are only a target).
    """

    owner = 'L_emb'
    _attached = False

    def recorder_managers(self) -> Tuple[RecorderManager, RecorderManager]:
        """``(student_manager, teacher_manager)``."""
        raise NotImplementedError

    def _initialize_recorders(self, student: torch.nn.Module, teacher: torch.nn.Module) -> None:
        """Register the recorders' hooks on both detectors (once per loss instance)."""
        if self._attached:
            raise RuntimeError(f'{self.owner}.attach: already attached; mmrazor recorders keep '
                               f'their hooks, so build a new {self.owner} for other detectors')
        for role, manager, model in zip(('student', 'teacher'), self.recorder_managers(),
                                        (student, teacher)):
            for name, recorder in manager.recorders.items():
                try:
                    recorder.initialize(model)
                except AssertionError as err:
                    raise InputError(f'{self.owner}.attach: {role}_recorders[{name!r}] '
                                     f'(source {recorder.source!r}): {err}') from None
        self._attached = True

    def _require_attached(self) -> None:
        if not self._attached:
            raise RuntimeError(f'{self.owner}: call attach(student, teacher) before recording '
                               f'or forward()')

    @contextmanager
    def student_recording(self) -> Iterator[None]:
        """Record from the student while the context is open (previous records dropped)."""
        self._require_attached()
        with self.recorder_managers()[0]:
            yield

    @contextmanager
    def teacher_recording(self) -> Iterator[None]:
        """Record from the teacher while the context is open; records are detached on exit."""
        self._require_attached()
        manager = self.recorder_managers()[1]
        try:
            with manager:
                yield
        finally:
            map_buffers(manager, Tensor.detach)

    def reset_records(self) -> None:
        """Forget every recorded tensor (done by ``forward`` once it has used them)."""
        for manager in self.recorder_managers():
            for recorder in manager.recorders.values():
                recorder.reset_data_buffer()

"""mmengine's ``CheckpointHook`` whose checkpoint files are always whole.

* Each checkpoint is written to a hidden temporary file in the same directory and
  renamed into place (``atomic_local`` file backend): ``kill -9`` during a save
  leaves the previous file or the new one, never a truncated one.
* With ``max_keep_ckpts``, the oldest checkpoint is deleted only after the new one
  is in place (mmengine deletes it first, so a crash mid-save could leave none).
* ``last_checkpoint`` is written atomically too.
* Every checkpoint carries a content digest of its weights and optimizer state
  (``meta['content_sha256']``), which the project's tools check when they read it.
* With ``save_best``, an evaluation whose key metric is undefined (NaN, or COCO's -1 for
  "no ground truth") is not a candidate: no "best" checkpoint is chosen on it, and the
  log says so (mmengine would keep it, -1 and NaN compare as scores).
* SIGINT (Ctrl-C) during a save is held until the save is done, then raised:
  otherwise it can land in the config formatting of the save, which mmengine
  reports as "Failed to format the config file".

Enabled by ``default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', ...))``
(``configs/_base_/default_runtime.py`` does it for this project's configs). A
checkpoint directory on a remote backend (``backend_args`` given, or an URI
prefix) keeps that backend.
"""
import contextlib
import math
import os.path as osp
import signal
import threading

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ...utils.checkpoint_io import add_digest, write_atomically
from .. import atomic_backend  # noqa: F401  (registers the 'atomic_local' backend)


@contextlib.contextmanager
def sigint_deferred():
    """Hold SIGINT inside the block; re-deliver it to the previous handler afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, received[0])
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic writes, delete-after-save and SIGINT held during saves.

    Takes exactly ``CheckpointHook``'s arguments.
    """

    def before_train(self, runner) -> None:
        out_dir = self.out_dir or runner.work_dir
        if (self.backend_args is None and self.file_client_args is None
                and '://' not in str(out_dir)):
            self.backend_args = dict(backend='atomic_local')
        super().before_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the content digest; this hook's priority (``VERY_LOW``) runs it after the
        hooks that change the weights saved (``EMAHook`` swaps in its averages)."""
        add_digest(checkpoint)

    def _save_checkpoint_with_step(self, runner, step, meta):
        with sigint_deferred():
            stale = []
            if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                                and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    stale.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

            ckpt_filename = self.filename_tmpl.format(step)
            self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if not is_main_process():
                return
            write_atomically(osp.join(runner.work_dir, 'last_checkpoint'),
                             lambda f: f.write(str(self.last_ckpt)), 'w')
            for old in stale:
                path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed
                    self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if self.save_best:
            indicators = [next(iter(metrics))] if 'auto' in self.key_indicators \
                else self.key_indicators
            undefined = {k: metrics[k] for k in indicators
                         if k in metrics and not is_defined(metrics[k])}
            if undefined:
                runner.logger.warning(
                    f'save_best: {", ".join(f"{k}={v}" for k, v in undefined.items())} is '
                    f'undefined at {"epoch" if self.by_epoch else "iter"} '
                    f'{runner.epoch if self.by_epoch else runner.iter}; no best checkpoint is '
                    'chosen on this evaluation')
                return
        with sigint_deferred():
            super()._save_best_checkpoint(runner, metrics)


def is_defined(score) -> bool:
    """A score a best checkpoint may be chosen on: a finite number other than -1 (what
    pycocotools reports for a metric without ground truth)."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and value != -1.

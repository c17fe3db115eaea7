"""Bit-exact resume: random number generator states and the data position in checkpoints.

mmengine restores weights, optimizer, schedulers and the iteration on resume, and
replays the sampler up to that iteration, but not the random number generators:
the data augmentation (numpy / python ``random`` in the pipeline) and every torch
random draw after the resume point differ from the uninterrupted run.

``RNGStateHook`` adds ``rng_state`` to every checkpoint: the torch CPU state, the
CUDA state of the current device (when CUDA is used), numpy's and python's
``random`` states (of every rank in a distributed run), and the data position
(the loop type, batches drawn, epoch, the sampler's seed). On resume it puts them
back exactly where the interrupted run was:

* iteration-based loops: mmengine re-draws the first ``iter`` batches (the
  sampler's order is a function of its seed, and the pipeline runs again so that
  dataloader workers, seeded once per run, are in the same state); the states are
  restored right after that replay, before the first new batch is drawn;
* epoch-based loops: restored at the start of the first resumed epoch (mmengine
  resumes epoch-based training at epoch boundaries).

Validation runs between checkpoints would draw random numbers that a resumed run
does not draw again, so the hook also makes validation neutral: the states are
saved before it and restored after it.

Enable it in any mmdet config with ``custom_hooks = [dict(type='RNGStateHook')]``
(``configs/_base_/default_runtime.py`` does it for this project's configs).
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner.base_loop import BaseLoop

KEY = 'rng_state'
VERSION = 1


def capture_rng_state() -> dict:
    """The current states of torch (CPU, current CUDA device), numpy and ``random``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        torch=torch.get_rng_state(),
        cuda=None)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy = state['numpy']
    np.random.set_state((numpy['kind'], numpy['keys'].numpy().astype(np.uint32), numpy['pos'],
                         numpy['has_gauss'], numpy['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if state.get('cuda') is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


def _sampler_seed(dataloader) -> Optional[int]:
    for owner in (getattr(dataloader, 'batch_sampler', None), dataloader):
        sampler = getattr(owner, 'sampler', None)
        if sampler is not None and hasattr(sampler, 'seed'):
            return sampler.seed
    return None


def _training_loop(runner) -> Optional[BaseLoop]:
    """The train loop once training has built it (``None`` in a test or val run)."""
    loop = getattr(runner, '_train_loop', None)
    return loop if isinstance(loop, BaseLoop) else None


class _CountingIterator:
    """Wraps the loop's data iterator: counts batches, restores states before batch N+1."""

    def __init__(self, iterator, count: int = 0):
        self.iterator = iterator
        self.count = count
        self.restore_at: Optional[int] = None
        self.pending: Optional[dict] = None

    def __iter__(self):
        return self

    def __next__(self):
        if self.pending is not None and self.count == self.restore_at:
            restore_rng_state(self.pending)
            self.pending = None
        batch = next(self.iterator)
        self.count += 1
        return batch

    def __getattr__(self, name):
        return getattr(self.iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the RNG states and data position in checkpoints; restore them on resume."""

    # after_train_iter / after_train_epoch run before CheckpointHook's (VERY_LOW)
    priority = 'LOW'

    def __init__(self) -> None:
        self._loaded: Optional[dict] = None   # rng_state of the checkpoint resumed from
        self._loaded_without = False          # a checkpoint was loaded that has none
        self._iterator: Optional[_CountingIterator] = None
        self._epoch_batches = 0
        self._val_states: Optional[list] = None   # states of all ranks before validation
        self._gathered: Optional[tuple] = None    # ((epoch, iter), states of all ranks)
        self._epoch_pending: Optional[dict] = None

    # ------------------------------------------------------------- saving

    def _position(self, runner) -> Optional[dict]:
        loop = _training_loop(runner)
        if loop is None:
            return None
        dataloader = getattr(loop, 'dataloader', None)
        if self._iterator is not None:
            batches = self._iterator.count
        else:
            batches = self._epoch_batches
        return dict(loop=type(loop).__name__, epoch=runner.epoch, iter=runner.iter,
                    batches=batches, epoch_complete=self._epoch_complete(runner),
                    sampler_seed=_sampler_seed(dataloader) if dataloader is not None else None)

    def _epoch_complete(self, runner) -> bool:
        dataloader = getattr(runner.train_loop, 'dataloader', None)
        try:
            return self._iterator is None and self._epoch_batches == len(dataloader)
        except TypeError:
            return False

    def _all_ranks(self) -> list:
        state = capture_rng_state()
        return all_gather_object(state) if get_world_size() > 1 else [state]

    def _checkpoint_due(self, runner, by_epoch: bool) -> bool:
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or hook.by_epoch != by_epoch:
                continue
            if by_epoch and (hook.every_n_epochs(runner, hook.interval, hook.save_begin)
                             or (hook.save_last and hook.is_last_train_epoch(runner))):
                return True
            if not by_epoch and (hook.every_n_train_iters(runner, hook.interval,
                                                          hook.save_begin)
                                 or (hook.save_last and hook.is_last_train_iter(runner))):
                return True
        return False

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._epoch_batches += 1
        if get_world_size() > 1 and self._checkpoint_due(runner, by_epoch=False):
            self._gathered = ((runner.epoch, runner.iter), self._all_ranks())

    def after_train_epoch(self, runner) -> None:
        if get_world_size() > 1 and self._checkpoint_due(runner, by_epoch=True):
            self._gathered = ((runner.epoch, runner.iter), self._all_ranks())

    def before_val(self, runner) -> None:
        if _training_loop(runner) is not None:  # not for runner.val() outside training
            self._val_states = self._all_ranks()

    def after_val(self, runner) -> None:
        if self._val_states is not None:
            restore_rng_state(self._val_states[min(get_rank(), len(self._val_states) - 1)])
            self._val_states = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._val_states is not None:          # best checkpoint, saved during validation
            states = self._val_states
        elif self._gathered is not None and self._gathered[0] == (runner.epoch, runner.iter):
            states = self._gathered[1]
        else:
            states = [capture_rng_state()]
        checkpoint[KEY] = dict(version=VERSION, ranks=states, position=self._position(runner))

    # ------------------------------------------------------------- resuming

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(KEY)
        self._loaded_without = self._loaded is None

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        resumed = runner.iter > 0 or runner.epoch > 0
        saved = self._loaded if resumed else None
        self._loaded = None
        if resumed and saved is None and self._loaded_without:
            print_log('RNGStateHook: the resumed checkpoint holds no RNG state (saved without '
                      'this hook); the resumed run will not repeat the uninterrupted one '
                      'exactly', logger='current', level='WARNING')
        if saved is not None and saved.get('position'):
            self._check_position(runner, saved['position'])
        if hasattr(loop, 'dataloader_iterator'):  # iteration-based: mmengine replays batches
            self._iterator = _CountingIterator(loop.dataloader_iterator)
            loop.dataloader_iterator = self._iterator
            if saved is not None:
                self._iterator.restore_at = (saved.get('position') or {}).get('batches',
                                                                              runner.iter)
                self._iterator.pending = self._rank_state(saved)
        elif saved is not None:
            self._epoch_pending = self._rank_state(saved)

    def before_train_epoch(self, runner) -> None:
        self._epoch_batches = 0
        if self._epoch_pending is not None:
            restore_rng_state(self._epoch_pending)
            self._epoch_pending = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self._iterator is not None and self._iterator.pending is not None:
            self._iterator.pending = None
            print_log(f'RNGStateHook: the data position of the checkpoint '
                      f'({self._iterator.restore_at} batches) was not reached before training '
                      'went on; RNG states not restored', logger='current', level='WARNING')

    def _rank_state(self, saved: dict) -> dict:
        ranks = saved['ranks']
        if len(ranks) != get_world_size():
            print_log(f'RNGStateHook: the checkpoint holds RNG states of {len(ranks)} '
                      f'process(es), this run has {get_world_size()}; each rank takes the '
                      'state of the same rank or the last one saved', logger='current',
                      level='WARNING')
        return ranks[min(get_rank(), len(ranks) - 1)]

    def _check_position(self, runner, position: dict) -> None:
        loop = runner.train_loop
        seed = _sampler_seed(getattr(loop, 'dataloader', None))
        if position.get('sampler_seed') != seed:
            print_log(f'RNGStateHook: the sampler seed differs from the checkpoint\'s '
                      f'({seed} vs {position.get("sampler_seed")}): the data order will not '
                      'repeat the uninterrupted run', logger='current', level='WARNING')
        if position.get('loop') != type(loop).__name__:
            print_log(f'RNGStateHook: resuming a {position.get("loop")} checkpoint with a '
                      f'{type(loop).__name__}', logger='current', level='WARNING')
        if not hasattr(loop, 'dataloader_iterator') and not position.get('epoch_complete'):
            print_log('RNGStateHook: the checkpoint was saved in the middle of an epoch; '
                      'mmengine restarts that epoch, so the resumed run will not repeat the '
                      'uninterrupted one exactly', logger='current', level='WARNING')

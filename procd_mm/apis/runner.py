"""The runner of the tools: mmengine's ``Runner.from_cfg``, given the model, the data and the
evaluators that the pre-flight checks already built (:mod:`.preflight`), so that nothing is
written to the work dir before every user input has been found usable."""
import contextvars
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config

from procd_mm.engine.hooks.rng_state_hook import capture_rng_state, restore_rng_state
from procd_mm.utils import InputError

from .preflight import build_dataloader, build_evaluator, build_model, check_registered_types

#: The objects the next ``from_cfg`` of a :func:`prebuilt_runner_class` passes on.
_PREBUILT: contextvars.ContextVar = contextvars.ContextVar('prebuilt', default=None)

_LOOPS = {'train': ('train_dataloader', 'train_cfg', None),
          'val': ('val_dataloader', 'val_cfg', 'val_evaluator'),
          'test': ('test_dataloader', 'test_cfg', 'test_evaluator')}


def prebuilt_runner_class(runner_cls: type) -> type:
    """``runner_cls`` whose ``from_cfg`` takes built objects for some of its arguments.

    ``Runner.from_cfg`` reads every argument from the config and calls the class with them;
    the subclass replaces those given in ``prebuilt`` (the model, loaders, evaluators) and
    leaves the others, and the argument list, to mmengine.
    """
    class PrebuiltRunner(runner_cls):
        def __init__(self, *args, **kwargs):
            kwargs.update(_PREBUILT.get() or {})
            super().__init__(*args, **kwargs)

        @classmethod
        def from_cfg(cls, cfg: Config, prebuilt: Optional[Dict] = None):
            token = _PREBUILT.set(dict(prebuilt or {}))
            try:
                return super().from_cfg(cfg)
            finally:
                _PREBUILT.reset(token)

    PrebuiltRunner.__name__ = PrebuiltRunner.__qualname__ = f'Prebuilt{runner_cls.__name__}'
    return PrebuiltRunner


def build_runner(cfg: Config, config_path: str, loops: Sequence[str] = ('train', 'val'),
                 check_model: Optional[Callable[[torch.nn.Module], None]] = None,
                 before_runner: Optional[Callable[[], None]] = None):
    """Build the model, the data of ``loops`` and their evaluators, then the runner.

    Everything that can fail on user input (unknown types, the model's own checks
    such as the teacher checkpoint, ``check_model`` (e.g. that a checkpoint fits),
    annotation files, classes, images) fails here, before the runner creates the
    work dir, the log and the config copy. The random state the runner's seeding
    would give the model is reproduced, so results equal those of
    ``Runner.from_cfg``. ``before_runner`` runs after every check, just before the
    runner is created (the training tool takes its hold of the work dir there).
    """
    from mmengine.dist import sync_random_seed
    from mmengine.registry import RUNNERS, init_default_scope
    from mmengine.runner import set_random_seed

    runner_type = cfg.get('runner_type', 'Runner')
    runner_cls = RUNNERS.get(runner_type) if isinstance(runner_type, str) else None
    if runner_cls is None:
        raise InputError(f'runner_type={runner_type!r}: unknown runner type')
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    check_registered_types(cfg)
    launcher = cfg.get('launcher', 'none')
    if launcher != 'none' and not dist.is_initialized():
        from mmengine.dist import init_dist
        init_dist(launcher, **(cfg.get('env_cfg') or {}).get('dist_cfg', {}))

    randomness = dict(cfg.get('randomness') or dict(seed=None))
    if randomness.get('seed') is None:
        randomness['seed'] = sync_random_seed()
    cfg.randomness = randomness  # the seed the runner will set, the same on every rank
    seed = set_random_seed(randomness['seed'], randomness.get('deterministic', False),
                           randomness.get('diff_rank_seed', False))
    prebuilt = dict(model=build_model(cfg, config_path))
    if check_model is not None:
        check_model(prebuilt['model'])
    after_model = capture_rng_state()

    for loop in loops:
        loader, loop_cfg, evaluator = _LOOPS[loop]
        wanted = [k for k in (loader, loop_cfg, evaluator) if k]
        if not all(cfg.get(k) is not None for k in wanted):
            continue
        prebuilt[loader] = build_dataloader(cfg, loader, seed,
                                            randomness.get('diff_rank_seed', False))
        if evaluator:
            prebuilt[evaluator] = build_evaluator(cfg, evaluator)

    cfg.launcher = launcher
    if before_runner is not None:
        before_runner()
    runner = prebuilt_runner_class(runner_cls).from_cfg(cfg, prebuilt)
    restore_rng_state(after_model)  # the runner re-seeded; go on as Runner.from_cfg would
    return runner

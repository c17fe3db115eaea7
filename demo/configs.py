"""The configs of the demo's runs: the repository's synthetic configs with the demo's data
roots, budget, seed and work dir."""
import os.path as osp
import time

from mmengine.config import Config

from procd_mm.apis import load_config

from .options import (
    CONFIG_DIR,
    METHOD_NAMES,
    METHODS,
    VAL_ANN,
    DemoOptions,
    regime_of,
    run_dir,
    student_configs,
)


def _load(name: str) -> Config:
    """The config, loaded as the tools load it, without yapf formatting of its text.

    mmengine formats a config with yapf each time a runner logs or dumps it (four times per
    runner, about half a second each for these configs); the demo's 37 runners dump the same
    config as unformatted Python instead. ``Config.fromfile`` of mmengine 0.10.7 drops its
    ``format_python_code`` argument for non-lazy configs, hence the second constructor.
    """
    cfg = load_config(osp.join(CONFIG_DIR, name))
    return Config(cfg.to_dict(), filename=cfg.filename, format_python_code=False)


def _point_data(cfg: Config, root: str) -> None:
    cfg.train_dataloader.dataset.data_root = root


def _schedule(cfg: Config, iters: int) -> None:
    """The config's schedule (warm-up, step at 80 %) rescaled to ``iters``."""
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=max(1, min(20, iters // 5))),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=iters,
             milestones=[max(1, int(iters * 0.8))], gamma=0.1),
    ]
    # the project's atomic saves (the RNG state hook comes with the configs' runtime)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False,
                                        interval=iters, max_keep_ckpts=1, save_last=True)
    # every iteration's own values (window 1): the clipped fraction counts single steps
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(by_epoch=False, window_size=1)
    # no validation during training: the demo tests every student afterwards
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None


def _name_run(cfg: Config, work_dir: str, name: str) -> None:
    """Own work dir, experiment, logger and visualizer per run (mmengine keeps them by name)."""
    cfg.work_dir = work_dir
    unique = f'{name}_{time.time_ns()}'
    cfg.experiment_name = unique
    cfg.visualizer = dict(cfg.visualizer, name=unique)


def teacher_cfg(opts: DemoOptions, source_root: str) -> Config:
    cfg = _load(regime_of(opts).teacher_config)
    _point_data(cfg, source_root)
    _schedule(cfg, opts.teacher_iters)
    cfg.randomness = dict(seed=0)
    _name_run(cfg, osp.join(opts.work_dir, 'teacher'), 'teacher')
    return cfg


def student_cfg(method: str, seed: int, opts: DemoOptions, target_root: str,
                teacher_ckpt: str) -> Config:
    """Training config of one student run: the real configs with demo data and budget."""
    if method not in METHODS:
        raise ValueError(f'unknown method {method!r}; choose from {METHODS}')
    student_config, procd_config = student_configs(opts)
    cfg = _load(student_config if method == 'student' else procd_config)
    if method != 'student':
        cfg.model.teacher_ckpt = teacher_ckpt
        cfg.model.teacher = dict(cfg_path=osp.join(CONFIG_DIR, regime_of(opts).teacher_config))
        if method == 'cwd':
            cfg.model.lambda_pro = 0.0
    _point_data(cfg, target_root)
    _schedule(cfg, opts.iters)
    cfg.randomness = dict(seed=seed)
    for key, value in opts.extra.get(method, {}).items():
        cfg.merge_from_dict({key: value})
    _name_run(cfg, run_dir(opts, method, seed), f'{method}_s{seed}')
    return cfg


def test_cfg(ckpt: str, domain: str, opts: DemoOptions, target_root: str, work_dir: str,
             method: str, config: str = None) -> Config:
    """Test config of an exported student (or of ``config``'s model, e.g. the teacher on
    its source tree) on the clear or the foggy val split of ``target_root``.

    Besides the per-class AP50 tables the metric writes the detections as COCO
    JSON (``<work_dir>/detections_<domain>.bbox.json``).
    """
    cfg = _load(config or student_configs(opts)[0])
    ds = cfg.test_dataloader.dataset
    ds.data_root = target_root
    ds.ann_file = VAL_ANN
    if domain == 'foggy':
        ds.type = 'FoggyCityscapesDataset'
        ds.beta = opts.beta
        ds.data_prefix = dict(img='leftImg8bit_foggy/val/')
    else:
        ds.data_prefix = dict(img='leftImg8bit/val/')
    cfg.test_evaluator = dict(type='PerClassAP50Metric', ann_file=target_root + VAL_ANN,
                              metric='bbox', table_dir=work_dir, table_name=f'ap50_{domain}',
                              method=f'{METHOD_NAMES.get(method, method)} ({domain})',
                              outfile_prefix=osp.join(work_dir, f'detections_{domain}'))
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.load_from = ckpt
    _name_run(cfg, work_dir, f'test_{method}_{domain}')
    return cfg

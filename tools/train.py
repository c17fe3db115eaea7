"""Train a detector or a distiller (mmdet's ``tools/train.py`` CLI, CPU-friendly).

Bad input stops before anything is written, with one line naming what is wrong
(docs/reliability.md).
"""
import argparse
import os.path as osp
import sys

import procd_mm  # noqa: F401  (repairs the stack, registers components)
from procd_mm.apis import (
    build_runner,
    check_checkpoint,
    check_data,
    config_classes,
    default_work_dir,
    load_config,
    setup_distributed,
)
from procd_mm.apis.tool import add_common_arguments, run_tool
from procd_mm.apis.work_dir_lock import WorkDirLock
from procd_mm.utils import InputError
from procd_mm.utils.amp import enable_amp
from procd_mm.utils.checkpoint_io import (
    check_classes,
    check_fits,
    check_optimizer_fits,
    find_resume_checkpoint,
    training_checkpoint,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector or a ProC-KD distiller')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs CUDA)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the actual batch size (auto_scale_lr)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or without a value from the latest '
                        'readable checkpoint in the work dir')
    return add_common_arguments(parser).parse_args()


def warn(message: str) -> None:
    print(f'warning: {message}', file=sys.stderr, flush=True)


def build_cfg(args):
    cfg = load_config(args.config, args.cfg_options)
    default_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        enable_amp(cfg, '--amp')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise InputError(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    WorkDirLock(cfg.work_dir, args.config).check_free()
    resumed = None  # the checkpoint resumed from, read once
    if args.resume == 'auto':
        latest = find_resume_checkpoint(cfg.work_dir, warn, '--resume') \
            if osp.isdir(cfg.work_dir) else None
        # nothing to resume from: mmengine's bare --resume starts from scratch
        cfg.resume = latest is not None
        cfg.load_from, resumed = latest if latest is not None else (None, None)
    elif args.resume is not None:
        resumed = training_checkpoint(args.resume, '--resume checkpoint')
        cfg.resume, cfg.load_from = True, args.resume
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from, 'load_from checkpoint')
    check_data(cfg, ('train_dataloader', 'val_dataloader'))
    return cfg, resumed


def train(args):
    cfg, resumed = build_cfg(args)
    setup_distributed(cfg, args.launcher)
    check_model = None
    if cfg.resume and cfg.load_from:  # resumed: None when the config itself sets resume
        def check_model(model, path=cfg.load_from):
            checkpoint = check_fits(model, path, args.config, '--resume checkpoint', resumed)
            check_classes(checkpoint, config_classes(cfg, 'train_dataloader'), path,
                          args.config, '--resume checkpoint')
            check_optimizer_fits(model, cfg.get('optim_wrapper'), checkpoint, path,
                                 args.config, '--resume checkpoint')
    lock = WorkDirLock(cfg.work_dir, args.config)
    runner = build_runner(cfg, args.config, ('train', 'val'), check_model, lock.acquire)
    try:
        runner.train()
    except KeyboardInterrupt:
        print(f'interrupted (SIGINT): the checkpoints in {cfg.work_dir} are whole; continue '
              'with --resume', file=sys.stderr)
        sys.exit(130)
    finally:
        lock.release()


if __name__ == '__main__':
    run_tool(train, parse_args())

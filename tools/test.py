"""Test (and evaluate) a detector or distiller checkpoint (mmdet's ``tools/test.py`` CLI).

The checkpoint must fit the model of the config exactly: missing, unexpected and
mis-shaped keys are listed in one error instead of evaluating a partly random
model. A distiller checkpoint given with a plain detector config is named as
such, with the export command to run first (docs/reliability.md).
"""
import argparse
import copy
import warnings

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmengine.config import ConfigDict

import procd_mm  # noqa: F401  (repairs the stack, registers components)
from procd_mm.apis import (
    build_runner,
    check_data,
    check_out_file,
    config_classes,
    default_work_dir,
    leaf_dataset_cfgs,
    load_config,
    setup_distributed,
)
from procd_mm.apis.tool import add_common_arguments, run_tool
from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import check_classes, check_fits, is_remote, read_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='save painted images under work_dir/timestamp/DIR')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (flip)')
    parser.add_argument('--paper-table', metavar='DIR',
                        help='also write the per-class AP50 table (JSON + Markdown) to DIR')
    return add_common_arguments(parser).parse_args()


def build_cfg(args):
    cfg = load_config(args.config, args.cfg_options)
    default_work_dir(cfg, args.config, args.work_dir)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise InputError(f'--out must be a .pkl file: {args.out}')
        check_out_file(args.out, '--out')
    checkpoint = None
    if not is_remote(args.checkpoint):
        checkpoint = read_checkpoint(args.checkpoint)
        check_classes(checkpoint, config_classes(cfg, 'test_dataloader'), args.checkpoint,
                      args.config)
    cfg.load_from = args.checkpoint
    check_data(cfg, ('test_dataloader',))
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.paper_table:
        cfg.test_evaluator = paper_table_evaluators(cfg.test_evaluator, args.paper_table)
    if args.tta:
        enable_tta(cfg)
    return cfg, checkpoint


def paper_table_evaluators(evaluators, table_dir: str):
    """``test_evaluator`` (one dict or a list) with its COCO bbox metrics as PerClassAP50Metric."""
    is_list = isinstance(evaluators, (list, tuple))
    out = [dict(e, type='PerClassAP50Metric', table_dir=table_dir)
           if e.get('type') in ('CocoMetric', 'PerClassAP50Metric') else e
           for e in (evaluators if is_list else [evaluators])]
    if all(e.get('type') != 'PerClassAP50Metric' for e in out):
        raise InputError('--paper-table needs a CocoMetric in test_evaluator, found '
                         f'{[e.get("type") for e in out]}')
    return out if is_list else out[0]


def enable_tta(cfg) -> None:
    """mmdet's ``--tta``: wrap the model in ``tta_model`` and test with ``tta_pipeline``,
    defaulting (with a warning) to mmdet's horizontal-flip TTA as mmdet's tools do.
    mmdet's ``DetTTAModel`` merges boxes only, so a model with a mask head is refused."""
    if (cfg.model.get('roi_head') or {}).get('mask_head') is not None:
        raise InputError('--tta: mmdet\'s DetTTAModel merges boxes only and this model has a '
                         'mask head; add --cfg-options model.roi_head.mask_head=None '
                         'model.roi_head.mask_roi_extractor=None to test its boxes with TTA')
    if 'tta_model' not in cfg:
        warnings.warn('Cannot find ``tta_model`` in config, we will set it as default.')
        cfg.tta_model = dict(type='DetTTAModel', tta_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    if 'tta_pipeline' not in cfg:
        warnings.warn('Cannot find ``tta_pipeline`` in config, we will set it as default.')
        data_cfg = next(leaf_dataset_cfgs(cfg.test_dataloader.dataset))
        cfg.tta_pipeline = copy.deepcopy(data_cfg.pipeline)
        cfg.tta_pipeline[-1] = dict(type='TestTimeAug', transforms=[
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
            [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                   'scale_factor', 'flip', 'flip_direction'))]])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def test(args):
    cfg, checkpoint = build_cfg(args)
    setup_distributed(cfg, args.launcher)

    def check_model(model):
        if checkpoint is not None:  # with --tta the checkpoint is the wrapped model's
            check_fits(model.module if args.tta else model, args.checkpoint, args.config,
                       'checkpoint', checkpoint, export_hint=(
                           f'run tools/model_converters/export_student.py {args.checkpoint} '
                           'STUDENT.pth first'))

    runner = build_runner(cfg, args.config, ('test',), check_model)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    if not runner.test():
        # mmdet's CocoMetric logs "the testing results of the whole dataset is empty" and
        # returns no metric: a run that scored nothing must not end as one that scored
        raise InputError(f'no metric was computed: the model of {args.config} with '
                         f'{args.checkpoint} made no detection on the test split (corrupted '
                         'or untrained weights, or a score threshold above every score?)')


if __name__ == '__main__':
    run_tool(test, parse_args())

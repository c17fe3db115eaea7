"""Convert a Swin-Transformer-Object-Detection COCO checkpoint for the ProC-KD teacher config.

    python tools/model_converters/swin_official_to_procd.py IN.pth OUT.pth \
        [--config configs/_base_/models/cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py] [--no-check]

IN is e.g. ``cascade_mask_rcnn_swin_base_patch4_window7.pth`` (mmdet 2.x layout,
official Swin key names). The script prints every renamed, dropped and unmatched
key, writes OUT and then loads it strictly into the model built from ``--config``
(the teacher config by default), as the distiller will (``teacher_ckpt``).
"""
import argparse
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import procd_mm  # noqa: F401  (repairs the stack, registers components)
from procd_mm.apis import check_checkpoint
from procd_mm.models.algorithms.teacher_checkpoint import load_teacher_checkpoint
from procd_mm.models.converters import convert_swin_official
from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import add_digest, write_atomically

DEFAULT_CONFIG = 'configs/_base_/models/cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py'


def convert(src: str, dst: str) -> None:
    """Convert ``src`` to ``dst`` and print the report."""
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, dict):
        raise InputError(f'{src} is not a checkpoint (a dict), got {type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    converted, report = convert_swin_official(state)
    for old, new in report.renamed:
        print(f'renamed   {old} -> {new}')
    for key in report.dropped:
        print(f'dropped   {key}')
    for key in report.unmatched:
        print(f'unmatched {key} (kept unchanged)')
    print(f'{len(report.renamed)} renamed, {len(report.kept)} kept, '
          f'{len(report.dropped)} dropped, {len(report.unmatched)} unmatched')
    meta = dict(checkpoint.get('meta', {}), converted_from=src)
    converted_ckpt = add_digest(dict(state_dict=converted, meta=meta))
    write_atomically(dst, lambda f: torch.save(converted_ckpt, f))


def check(dst: str, config: str) -> None:
    """Load ``dst`` strictly into the detector of ``config``."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    load_teacher_checkpoint(model, dst, strict=True)
    print(f'{dst} loads strictly into the model of {config}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='Swin-Transformer-Object-Detection checkpoint')
    parser.add_argument('dst', help='path of the converted checkpoint')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='detector config the result must load into strictly')
    parser.add_argument('--no-check', action='store_true', help='skip the strict load check')
    args = parser.parse_args()
    try:
        check_checkpoint(args.src)
        convert(args.src, args.dst)
        if not args.no_check:
            check(args.dst, args.config)
    except InputError as exc:
        sys.exit(f'error: {exc}')


if __name__ == '__main__':
    main()

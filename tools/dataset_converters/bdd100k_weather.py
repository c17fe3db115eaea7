"""Write COCO JSON for the BDD100k Diverse-Weather splits from BDD label files.

Example (BDD100k train + val, images under data/bdd100k/images/100k/{train,val}):

    python tools/dataset_converters/bdd100k_weather.py \\
        data/bdd100k/labels/det_20/det_train.json \\
        data/bdd100k/labels/det_20/det_val.json \\
        --out-dir data/bdd100k/annotations \\
        --image-prefix train/ --image-prefix val/
"""
import argparse
import os.path as osp
import sys

from procd_mm.datasets.preparation.bdd_weather import (
    SPLITS,
    convert,
    split_path,
    write_splits,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('label_json', nargs='+', help='BDD100k detection label JSON')
    parser.add_argument('--out-dir', required=True, help='where <split>.json are written')
    parser.add_argument(
        '--image-prefix', action='append', default=None,
        help='prepended to image names in file_name; once for all label files '
        'or once per label file, in order')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = convert(args.label_json, args.image_prefix)
        existed = {split for split in SPLITS if osp.exists(split_path(args.out_dir, split))}
        paths = write_splits(result, args.out_dir)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for split, coco in result.splits.items():
        timeofday, weather = SPLITS[split]
        if split not in paths:
            print(f'{split:14s} ({timeofday} + {weather}): no image in the label files, '
                  'not written')
            continue
        replaced = ' (replaced)' if split in existed else ''
        print(f'{split:14s} ({timeofday} + {weather}): {len(coco["images"])} images, '
              f'{len(coco["annotations"])} boxes -> {paths[split]}{replaced}')
    if result.dropped_categories:
        dropped = ', '.join(f'{k}: {v}' for k, v in sorted(result.dropped_categories.items()))
        print(f'dropped (not benchmark classes): {dropped}')
    if result.degenerate_boxes:
        print(f'dropped {result.degenerate_boxes} boxes of zero width or height')
    if result.unknown_categories:
        unknown = ', '.join(f'{k}: {v}' for k, v in sorted(result.unknown_categories.items()))
        print(f'WARNING: unknown categories skipped: {unknown}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())

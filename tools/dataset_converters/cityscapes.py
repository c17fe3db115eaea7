"""Convert Cityscapes gtFine annotations to COCO JSON (the 8 instance classes).

Example:

    python tools/dataset_converters/cityscapes.py data/cityscapes --nproc 8
    # -> data/cityscapes/annotations/instancesonly_filtered_gtFine_{train,val}.json
"""
import argparse
import json
import os.path as osp
import sys

from procd_mm.datasets.preparation.cityscapes_to_coco import ann_file_name, convert_cityscapes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('cityscapes_root', help='folder with leftImg8bit/ and gtFine/')
    parser.add_argument('-o', '--out-dir', help='output folder (default: <root>/annotations)')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'], help='splits to convert')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(args.cityscapes_root, 'annotations')
    existed = {split for split in args.splits
               if osp.exists(osp.join(out_dir, ann_file_name(split)))}
    try:
        paths = convert_cityscapes(args.cityscapes_root, out_dir, args.splits, args.nproc)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for split, path in paths.items():
        with open(path, encoding='utf-8') as f:
            coco = json.load(f)
        replaced = ' (replaced)' if split in existed else ''
        print(f'{split}: {len(coco["images"])} images, {len(coco["annotations"])} instances '
              f'-> {path}{replaced}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

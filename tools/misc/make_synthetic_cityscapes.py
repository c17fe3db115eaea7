"""Write a small synthetic dataset in the official Cityscapes layout (plus COCO JSON).

Example:

    python tools/misc/make_synthetic_cityscapes.py data/synthetic_cityscapes --seed 0
"""
import argparse
import sys

from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='root of the Cityscapes-style tree to write')
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same bytes)')
    parser.add_argument('--num-train', type=int, default=8, help='train images')
    parser.add_argument('--num-val', type=int, default=4, help='val images')
    parser.add_argument('--height', type=int, default=128, help='image height in pixels')
    parser.add_argument('--width', type=int, default=256, help='image width in pixels')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = generate_synthetic_cityscapes(
            args.out_dir, seed=args.seed, num_train=args.num_train, num_val=args.num_val,
            height=args.height, width=args.width)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for split, records in result['ground_truth'].items():
        n_inst = sum(len(r['instances']) for r in records)
        print(f'{split}: {len(records)} images, {n_inst} instances -> '
              f'{result["annotations"][split]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Synthesize Foggy Cityscapes images from leftImg8bit + disparity + camera.

Example (writes data/cityscapes/leftImg8bit_foggy/{train,val}/<city>/
<name>_leftImg8bit_foggy_beta_0.02.png):

    python tools/dataset_converters/foggify_cityscapes.py data/cityscapes --beta 0.02 --nproc 8
"""
import argparse
import sys

from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('cityscapes_root', help='folder with leftImg8bit/, disparity/, camera/')
    parser.add_argument('--beta', type=float, default=0.02,
                        help='attenuation coefficient: 0.005, 0.01 or 0.02')
    parser.add_argument('--out-dir', help='default: <root>/leftImg8bit_foggy')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'], help='splits to fog')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        written = foggify_cityscapes(args.cityscapes_root, args.beta, args.out_dir,
                                     args.splits, args.nproc)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for split, paths in written.items():
        print(f'{split}: {len(paths)} foggy images (beta={args.beta:g})')
    return 0


if __name__ == '__main__':
    sys.exit(main())

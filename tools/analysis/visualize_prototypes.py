"""Draw which prototype every P5 position of teacher and student is assigned to.

    python tools/analysis/visualize_prototypes.py configs/synthetic/procd_tiny.py \
        work_dirs/procd_tiny/iter_150.pth IMAGE [IMAGE ...] --out-dir DIR

Per image: ``<stem>_prototypes.png`` (rows teacher / student: the image, the
arg-max over n of ``PrototypeLearning.assign`` with one colour per prototype,
and the assignment heat maps of the ``--top-k`` most used prototypes) and
``<stem>_prototypes.npz`` (the soft assignment ``[n, h, w]`` and the arg-max
``[h, w]`` of both paths).
"""
import argparse
import os.path as osp
import sys

from procd_mm.apis import load_config
from procd_mm.utils import InputError
from procd_mm.visualization import visualize


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='ProCKD config (lambda_pro > 0)')
    p.add_argument('checkpoint', help='ProCKD training checkpoint (with teacher weights)')
    p.add_argument('images', nargs='+')
    p.add_argument('--out-dir', default='work_dirs/prototype_maps')
    p.add_argument('--top-k', type=int, default=3, help='heat maps of this many prototypes')
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                   help='override config settings, key=value')
    a = p.parse_args(argv)
    try:
        for path in a.images:
            if not osp.isfile(path):
                raise InputError(f'image not found: {path}')
        cfg = load_config(a.config, a.cfg_options)
        outputs = visualize(cfg, a.checkpoint, a.images, a.out_dir, a.top_k, a.device)
    except InputError as exc:
        sys.exit(f'error: {exc}')
    for out in outputs:
        print(out)


if __name__ == '__main__':
    main()

"""Which difference between the source and the target domain the teacher does not survive.

``python -m demo.transfer`` tests the demo's cached teacher (its own label space) on val sets
drawn in the target domain with one of the source domain's changes at a time, and in the
source domain itself: a teacher-only diagnostic of the regime (docs/demo.md), never a
distilled result.
"""
import argparse
import dataclasses
import os.path as osp
from typing import Dict

from procd_mm.datasets.preparation.scene_domain import CITYSCAPES_LIKE, SceneDomain

from .files import log, write_json
from .options import VAL_ANN, DemoOptions, regime_of, teacher_ckpt_path

#: the source domain's changes, one at a time: name -> the SceneDomain fields it sets
CHANGES = {
    'colour noise': ('colour_jitter',),
    'background (sky, buildings, road, sidewalk)': ('sky', 'building', 'road', 'sidewalk'),
    'object scale': ('scale',),
    'stripes': ('stripes', 'stripe_px'),
    'camera height': ('camera_height',),
}


def variants(source: SceneDomain, target: SceneDomain = CITYSCAPES_LIKE) -> Dict[str, SceneDomain]:
    """The source, the target, and the target with each of the source's changes alone (all
    with the source's classes)."""
    base = dataclasses.replace(target, classes=source.classes)
    out = {'source': source, 'target': base}
    for name, fields in CHANGES.items():
        out[f'target + {name}'] = dataclasses.replace(
            base, **{f: getattr(source, f) for f in fields})
    return out


def teacher_transfer(opts: DemoOptions, num_val: int = 100, seed: int = 3000) -> Dict[str, float]:
    """The cached teacher's mAP50 (its label space) on ``num_val`` images of each variant."""
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes

    from .configs import test_cfg
    from .data import relabel_categories
    from .jobs import evaluate
    from .measures import map50
    regime = regime_of(opts)
    out = {}
    for i, (name, domain) in enumerate(variants(regime.source_domain).items()):
        root = osp.join(opts.work_dir, 'transfer', f'variant{i}') + '/'
        generate_synthetic_cityscapes(root, seed=seed, num_train=len(domain.classes),
                                      num_val=num_val, height=opts.height, width=opts.width,
                                      domain=domain)
        if regime.source_categories:
            relabel_categories(root + VAL_ANN, regime.source_categories)
        cfg = test_cfg(teacher_ckpt_path(opts), 'clear', opts, root, root + 'test', 'teacher',
                       config=regime.teacher_config)
        out[name] = map50(evaluate(cfg))
        log(f'teacher on {name}: {out[name]:.1f} mAP50')
    return out


def main(argv=None) -> Dict[str, float]:
    d = DemoOptions()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default=d.work_dir)
    p.add_argument('--num-val', type=int, default=100)
    p.add_argument('--out', default=None, help='write the results as JSON here')
    args = p.parse_args(argv)
    result = teacher_transfer(DemoOptions(work_dir=args.work_dir), args.num_val)
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == '__main__':
    main()

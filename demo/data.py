"""The demo's data: synthetic source and target trees and the foggy target val split."""
import glob
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

from procd_mm.datasets.foggy_cityscapes import foggy_file_name

from .files import log, read_json, stamp_ok, write_json
from .options import DemoOptions, regime_of


def relabel_categories(ann_file: str, categories: Sequence[Tuple[int, str]]) -> None:
    """Rewrite a COCO JSON in another label space: ``categories`` (id, name), in that order.

    Annotations of classes outside it are dropped (the source domain draws none).
    """
    coco = read_json(ann_file)
    old = {c['id']: c['name'] for c in coco['categories']}
    new = {name: cat_id for cat_id, name in categories}
    coco['categories'] = [dict(id=cat_id, name=name) for cat_id, name in categories]
    coco['annotations'] = [dict(a, category_id=new[old[a['category_id']]])
                           for a in coco['annotations'] if old[a['category_id']] in new]
    write_json(ann_file, coco)


def prepare_data(opts: DemoOptions) -> Dict[str, str]:
    """Generate (or reuse) the source and target trees and the foggy target val split.

    The source tree is drawn in the regime's source domain and, where the regime says so,
    its annotations are written in the teacher's label space (demo/regimes.py).
    """
    from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
    from procd_mm.datasets.preparation.scene_domain import CITYSCAPES_LIKE
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
    regime = regime_of(opts)
    roots = {}
    for name, seed, num_train, num_val, domain in (
            ('source', opts.source_seed, opts.source_train, opts.source_val,
             regime.source_domain),
            ('target', opts.target_seed, opts.target_train, opts.num_val, CITYSCAPES_LIKE)):
        root = osp.join(opts.data_dir, name)
        categories = regime.source_categories if name == 'source' else None
        stamp = dict(seed=seed, num_train=num_train, num_val=num_val, height=opts.height,
                     width=opts.width, beta=opts.beta if name == 'target' else None,
                     domain=repr(domain), categories=categories and list(map(list, categories)))
        stamp_file = osp.join(root, 'demo_stamp.json')
        if not stamp_ok(stamp_file, stamp):
            log(f'generating the {name} data ({num_train} train / {num_val} val images)')
            shutil.rmtree(root, ignore_errors=True)
            result = generate_synthetic_cityscapes(
                root, seed=seed, num_train=num_train, num_val=num_val, height=opts.height,
                width=opts.width, domain=domain)
            for ann_file in result['annotations'].values():
                if categories:
                    relabel_categories(ann_file, categories)
            if name == 'target':
                foggify_cityscapes(root, beta=opts.beta, splits=('val',))
            write_json(stamp_file, stamp)
        else:
            log(f'reusing the {name} data in {root}')
        roots[name] = osp.abspath(root) + '/'
    return roots


def val_images(root: str, beta: Optional[float], count: Optional[int] = None,
               domain: Optional[str] = None) -> List[str]:
    """The first ``count`` target val images (all if ``None``).

    ``domain=None``: each clear image followed by its foggy version (if ``beta``);
    ``'clear'`` / ``'foggy'``: only that version.
    """
    clear = sorted(glob.glob(osp.join(root, 'leftImg8bit', 'val', '*', '*_leftImg8bit.png')))
    out = []
    for path in clear[:count]:
        if domain in (None, 'clear'):
            out.append(path)
        if domain in (None, 'foggy') and beta is not None:
            rel = osp.relpath(path, osp.join(root, 'leftImg8bit', 'val'))
            foggy = osp.join(root, 'leftImg8bit_foggy', 'val', foggy_file_name(rel, beta))
            if osp.isfile(foggy):
                out.append(foggy)
    return out

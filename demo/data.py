"""The demo's data: synthetic source and target trees and the foggy target val split."""
import glob
import os.path as osp
import shutil
from typing import Dict, List, Optional

from procd_mm.datasets.foggy_cityscapes import foggy_file_name

from .files import log, stamp_ok, write_json
from .options import DemoOptions


def prepare_data(opts: DemoOptions) -> Dict[str, str]:
    """Generate (or reuse) the source and target trees and the foggy target val split."""
    from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
    roots = {}
    for name, seed, num_train, num_val in (
            ('source', opts.source_seed, opts.source_train, max(8, opts.num_val // 4)),
            ('target', opts.target_seed, opts.target_train, opts.num_val)):
        root = osp.join(opts.data_dir, name)
        stamp = dict(seed=seed, num_train=num_train, num_val=num_val, height=opts.height,
                     width=opts.width, beta=opts.beta if name == 'target' else None)
        stamp_file = osp.join(root, 'demo_stamp.json')
        if not stamp_ok(stamp_file, stamp):
            log(f'generating the {name} data ({num_train} train / {num_val} val images)')
            shutil.rmtree(root, ignore_errors=True)
            generate_synthetic_cityscapes(root, seed=seed, num_train=num_train, num_val=num_val,
                                          height=opts.height, width=opts.width)
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

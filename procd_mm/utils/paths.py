"""The one rule by which the project finds a file that a config names by a relative path (a
model's ``cfg_path``, a ``teacher_ckpt``), used by the tools, the demo, the visualisation and
the distiller alike.

A relative path is looked up, in this order, in
1. the directory of the config file that names it (as mmengine reads ``_base_``);
2. the working directory (as mmdet reads ``load_from`` and ``data_root``);
3. the configs this package ships (``procd_mm/.mim``), so that ``configs/...`` names a
   config of this project from any directory and from a pip install.

Absolute paths, URLs (``https://``, ``s3://``) and package names (``mmdet::...``) are not
relative paths: they are left to mmengine.
"""
import os.path as osp
from typing import Optional

PACKAGE_DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim')


def is_relative_local(path) -> bool:
    """A non-empty relative path of a local file (no URL, no ``pkg::`` name)."""
    return isinstance(path, str) and bool(path) and '://' not in path and '::' not in path \
        and not osp.isabs(path)


def find_file(path: str, config_dir: Optional[str] = None) -> Optional[str]:
    """The absolute path of the existing file that ``path`` names by the rule above, else
    ``None``; ``config_dir`` is the directory of the config naming it (None: no config)."""
    if not is_relative_local(path):
        return path if isinstance(path, str) and osp.isfile(path) else None
    roots = ([config_dir] if config_dir else []) + [osp.curdir, PACKAGE_DATA]
    return next((osp.abspath(osp.join(root, path)) for root in roots
                 if osp.isfile(osp.join(root, path))), None)

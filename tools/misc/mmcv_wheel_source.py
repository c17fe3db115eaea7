"""Print pip's ``--find-links`` option for the prebuilt mmcv wheel, if it fits.

The wheel in ``shared/wheels`` is compiled against ``torch==2.13.0+cpu`` on
CPython 3.11; with any other torch or Python, nothing is printed and pip builds
mmcv from source.
"""
import glob
import os.path as osp
import sys

import torch


def main(wheel_dir: str) -> str:
    py_tag = f'cp{sys.version_info.major}{sys.version_info.minor}'
    wheels = glob.glob(osp.join(wheel_dir, f'mmcv-2.1.0-{py_tag}-{py_tag}-linux_x86_64.whl'))
    if wheels and torch.__version__ == '2.13.0+cpu':
        return f'--find-links {osp.abspath(wheel_dir)}'
    return ''


if __name__ == '__main__':
    print(main(sys.argv[1] if len(sys.argv) > 1 else '../shared/wheels'))

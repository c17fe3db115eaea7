"""``make bench``: step time and peak memory of student-only / CWD / ProC-KD and more.

    python tools/benchmark/benchmark_distill.py [--size tiny|full] [--height H --width W]
        [--batch B] [--rounds R] [--device cpu|cuda] [--out work_dirs/benchmark/x.json]

See :mod:`procd_mm.demo.benchmark` for what is measured and how.
"""
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
os.chdir(REPO)

from procd_mm.demo.benchmark import main  # noqa: E402

if __name__ == '__main__':
    main()

"""``make demo`` (``python -m demo``): ProC-KD vs CWD vs student-only on synthetic data,
clear and foggy, several seeds in parallel worker processes. ``--study`` runs the same
experiment on 8 seeds (reusing the runs of the demo's seeds) for paired confidence
intervals. The work is in :mod:`demo.pipeline`; see ``docs/demo.md``.
"""
import argparse
import math

from .options import METHODS, STUDENTS, DemoOptions, parse_seeds
from .pipeline import run_demo

#: The seeds of ``--study`` (the demo's first four among them).
STUDY_SEEDS = '0,1,2,3,4,5,6,7'


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'{value} is not > 0')
    return value


def _seeds(text: str) -> str:
    try:
        seeds = parse_seeds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a comma-separated list of '
                                         'integers, e.g. 0,1,2,3') from None
    if not seeds:
        raise argparse.ArgumentTypeError('no seed given (e.g. 0,1,2,3)')
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f'{text!r}: seeds must be distinct and >= 0')
    return text


def _beta(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f'{value} is not a fog density >= 0')
    return value


def _methods(text: str) -> str:
    methods = [m for m in text.split(',') if m]
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f'{text!r}: choose one or more of {",".join(METHODS)}')
    return text


def parse_args(argv=None):
    """The options; a value that cannot be used ends here, in one line, before anything is
    generated or trained."""
    d = DemoOptions()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default=d.work_dir)
    p.add_argument('--regime', default=d.regime, choices=('paper', 'disjoint'),
                   help="the teacher's label space and domain (docs/demo.md)")
    p.add_argument('--student', default=d.student, choices=STUDENTS,
                   help='the student family, under the same teacher (docs/demo.md); '
                        'rtmdet writes under <work-dir>/rtmdet/')
    p.add_argument('--study', action='store_true',
                   help=f'the study: seeds {STUDY_SEEDS} (unless --seeds), no pictures, '
                        'written to study_summary.json')
    p.add_argument('--seeds', default=None, type=_seeds,
                   help=f'e.g. 0,1,2,3 (default {",".join(map(str, d.seeds))}; with --study '
                        f'{STUDY_SEEDS})')
    p.add_argument('--iters', type=_positive_int, default=d.iters, help='student iterations')
    p.add_argument('--teacher-iters', type=_positive_int, default=d.teacher_iters)
    p.add_argument('--source-train', type=_positive_int, default=d.source_train,
                   help='teacher (source) training images')
    p.add_argument('--source-val', type=_positive_int, default=d.source_val,
                   help='source val images (the teacher\'s own mAP50)')
    p.add_argument('--target-train', type=_positive_int, default=d.target_train,
                   help='student (target) training images')
    p.add_argument('--num-val', type=_positive_int, default=d.num_val, help='target val images')
    p.add_argument('--height', type=_positive_int, default=d.height)
    p.add_argument('--width', type=_positive_int, default=d.width)
    p.add_argument('--beta', type=_beta, default=d.beta, help='fog of the foggy val split')
    p.add_argument('--num-pictures', type=int, default=d.num_pictures)
    p.add_argument('--threads', type=int, default=d.threads,
                   help='torch threads per run (0: torch default)')
    p.add_argument('--workers', type=int, default=d.workers,
                   help='runs in parallel, one worker process each (default: the number of '
                        'CPU cores, capped by the number of jobs; 1: one after another in '
                        'this process)')
    p.add_argument('--methods', default=','.join(d.methods), type=_methods)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    seeds = a.seeds if a.seeds is not None else (
        STUDY_SEEDS if a.study else ','.join(map(str, DemoOptions.seeds)))
    opts = DemoOptions(work_dir=a.work_dir, regime=a.regime, student=a.student,
                       seeds=parse_seeds(seeds),
                       iters=a.iters, teacher_iters=a.teacher_iters, source_train=a.source_train,
                       source_val=a.source_val, target_train=a.target_train, num_val=a.num_val,
                       height=a.height, width=a.width, beta=a.beta, num_pictures=a.num_pictures,
                       threads=a.threads, workers=a.workers,
                       methods=tuple(m for m in a.methods.split(',') if m))
    if a.study:
        run_demo(opts, name='study_summary', draw_pictures=False)
    else:
        run_demo(opts)


if __name__ == '__main__':
    main()

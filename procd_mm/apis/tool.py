"""What ``tools/train.py`` and ``tools/test.py`` share: mmdet's common options and the way a
run ends (one ``error:`` line for bad input, the process group left together)."""
import argparse
import sys
from typing import Callable

from procd_mm.utils import InputError

from .distributed import finish_distributed, set_local_rank


def add_common_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``, as in mmdet's tools."""
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def run_tool(main: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> None:
    """Run ``main(args)``; bad input (:class:`InputError`, a missing file) ends the process
    with one line, a bug with its traceback."""
    set_local_rank(args.local_rank)
    try:
        main(args)
        finish_distributed()
    except (InputError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')

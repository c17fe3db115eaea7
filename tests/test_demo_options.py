"""``python -m demo``'s options: a value that cannot be used is one line from argparse (exit
2) before any data is generated or anything trained."""
import os.path as osp
import subprocess
import sys

import pytest

from demo.__main__ import parse_args
from tests.conftest import REPO


@pytest.mark.parametrize('option, message', [
    (['--seeds', ''], 'no seed given'),
    (['--seeds', 'a,b'], "'a,b' is not a comma-separated list of integers"),
    (['--seeds', '1,1'], 'seeds must be distinct'),
    (['--iters', '0'], 'argument --iters: 0 is not > 0'),
    (['--teacher-iters', 'x'], "argument --teacher-iters: 'x' is not an integer"),
    (['--beta', '-1'], 'argument --beta: -1.0 is not a fog density >= 0'),
    (['--beta', 'nan'], 'is not a fog density'),
    (['--methods', 'procd,kd'], 'choose one or more of student,cwd,procd'),
])
def test_unusable_options_are_one_line(option, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(option)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_option_writes_nothing(tmp_path):
    work = tmp_path / 'demo'
    result = subprocess.run([sys.executable, '-m', 'demo', '--work-dir', str(work), '--iters',
                             '0'], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith('argument --iters: 0 is not > 0')
    assert not osp.exists(work)


def test_good_options_parse():
    args = parse_args(['--seeds', '3,1', '--iters', '5', '--beta', '0', '--methods', 'cwd'])
    assert (args.seeds, args.iters, args.beta, args.methods) == ('3,1', 5, 0.0, 'cwd')

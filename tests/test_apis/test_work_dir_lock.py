"""procd_mm/apis/work_dir_lock.py through tools/train.py: a second training into a work dir in
use is refused in one line naming the running one; after a SIGKILL, --resume takes over."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from procd_mm.apis.work_dir_lock import LOCK_NAME, WorkDirLock
from procd_mm.utils import InputError
from tests.conftest import REPO, data_options, run_tool

STUDENT = 'configs/synthetic/student_tiny.py'


def _train_args(work_dir, root, iters, *extra):
    return ['tools/train.py', STUDENT, '--work-dir', str(work_dir), *extra, '--cfg-options',
            f'train_cfg.max_iters={iters}', 'train_cfg.val_interval=100000',
            'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=1',
            *data_options(root)]


def _snapshot(folder):
    return {name: open(osp.join(folder, name), 'rb').read()
            for name in sorted(os.listdir(folder)) if osp.isfile(osp.join(folder, name))}


def test_a_second_run_is_refused_and_resume_takes_over_after_sigkill(synthetic_root,
                                                                      tmp_path):
    work = tmp_path / 'work'
    first = subprocess.Popen([sys.executable, *_train_args(work, synthetic_root, 100000)],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (work / 'iter_1.pth').exists():
            assert first.poll() is None and time.time() < deadline, 'the first run ended'
            time.sleep(0.2)
        holder = json.loads((work / LOCK_NAME).read_text())
        assert holder['pid'] == first.pid and holder['config'] == STUDENT

        # a new run into the same work dir, while the first is alive
        second = run_tool(*_train_args(work, synthetic_root, 2), check=False)
        assert second.returncode == 1 and 'Traceback' not in second.stderr
        line = second.stderr.strip().splitlines()[-1]
        assert line.startswith(f'error: work dir {work} is in use by a running training '
                               f'(pid {first.pid} on ')
        assert f'config {STUDENT}, started ' in line
        # a resume is refused as well while the first run lives
        resumed = run_tool(*_train_args(work, synthetic_root, 2, '--resume'), check=False)
        assert resumed.returncode == 1 and 'is in use by a running training' in resumed.stderr
        assert first.poll() is None
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL

    # the lock file stays behind; a bare --resume takes the work dir over and continues
    assert (work / LOCK_NAME).exists()
    with open(work / 'last_checkpoint') as f:
        last = int(osp.basename(f.read().strip())[len('iter_'):-len('.pth')])
    result = run_tool(*_train_args(work, synthetic_root, last + 1, '--resume'))
    assert f'resumed epoch: 0, iter: {last}' in result.stdout + result.stderr
    assert (work / f'iter_{last + 1}.pth').exists()
    assert json.loads((work / LOCK_NAME).read_text())['pid'] != first.pid


def test_the_lock_in_one_process_and_its_release(tmp_path):
    work = str(tmp_path / 'work')
    first = WorkDirLock(work, 'a.py')
    first.acquire()
    # flock is per open file: a second open in the same process is refused as another run is
    with pytest.raises(InputError, match=rf'^work dir {work} is in use by a running training '
                                         rf'\(pid {os.getpid()} on .+, config a\.py, started '):
        WorkDirLock(work, 'b.py').acquire()
    first.release()
    second = WorkDirLock(work, 'b.py')
    second.acquire()
    assert json.load(open(osp.join(work, LOCK_NAME)))['config'] == 'b.py'
    second.release()


def test_a_remote_work_dir_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lock = WorkDirLock('s3://bucket/work', 'a.py')
    lock.check_free()
    lock.acquire()
    lock.release()
    assert os.listdir(tmp_path) == []  # no local folder named after the URL

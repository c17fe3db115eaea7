"""Resume and checkpoints (docs/reliability.md): bit-exact resume, atomic saves, SIGINT, fallback.

* 8 iterations straight == 4 + ``--resume`` 4 on the ProC-KD distiller, every tensor equal
  (RNGStateHook); without the hook the same runs differ (the test can see a difference).
* A save killed with SIGKILL leaves the old file or the new one, never a partial one, both for
  one file written twice and for a training run killed while it saves (AtomicCheckpointHook).
* SIGINT during a save: the save completes, then one line; no "Failed to format the config".
* Bare ``--resume`` whose latest checkpoint is corrupt falls back to the newest readable one.
"""
import glob
import os
import os.path as osp
import shutil
import signal

import pytest
import torch

import procd_mm  # noqa: F401  (torch.load of mmengine checkpoints)
from tests.conftest import REPO, data_options
from tests.tool_zygote import tool_runner

PROCD = 'configs/synthetic/procd_tiny.py'
STUDENT = 'configs/synthetic/student_tiny.py'


def no_val(root):
    """The data options of tests/conftest.py without the val loader, and validation off."""
    return [o for o in data_options(root) if not o.startswith('val_')] + [
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def train(config, work_dir, root, iters, *extra, options=(), check=True):
    result = tool_runner().run(
        'tools/train.py', config, '--work-dir', str(work_dir), *extra, '--cfg-options',
        f'train_cfg.max_iters={iters}', 'default_hooks.checkpoint.interval=4',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=1', *options,
        *no_val(root))
    if check:
        assert result.returncode == 0, result.stderr[-5000:]
    return result


def state_dict(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def differing(a, b):
    a, b = state_dict(a), state_dict(b)
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture(scope='module')
def runs(synthetic_root, teacher_ckpt, tmp_path_factory):
    """procd_tiny: 8 iterations straight; 4, then --resume to 8 (checkpoints every 4)."""
    teacher = [f'model.teacher_ckpt={teacher_ckpt}']
    straight = tmp_path_factory.mktemp('straight')
    train(PROCD, straight, synthetic_root, 8, options=teacher)
    resumed = tmp_path_factory.mktemp('resumed')
    train(PROCD, resumed, synthetic_root, 4, options=teacher)
    log = train(PROCD, resumed, synthetic_root, 8, '--resume', options=teacher)
    return dict(straight=straight, resumed=resumed, log=log.stdout + log.stderr,
                teacher=teacher)


def test_resume_is_bit_exact_on_the_distiller(runs):
    assert 'resumed epoch: 0, iter: 4' in runs['log']
    assert 'RNGStateHook:' not in runs['log'], 'no warning of the hook expected'
    assert differing(runs['straight'] / 'iter_4.pth', runs['resumed'] / 'iter_4.pth') == []
    final = state_dict(runs['straight'] / 'iter_8.pth')
    assert len(final) > 300 and any(k.startswith('teacher.') for k in final)
    assert differing(runs['straight'] / 'iter_8.pth', runs['resumed'] / 'iter_8.pth') == []
    saved = torch.load(runs['resumed'] / 'iter_8.pth', weights_only=True)['rng_state']
    assert saved['position']['batches'] == 8 and saved['position']['loop'] == \
        'IterBasedTrainLoop'


@pytest.mark.slow
def test_resume_without_the_hook_differs(runs, synthetic_root, tmp_path):
    """The same 4 + 4 without RNGStateHook: the comparison above can fail."""
    shutil.copy(runs['resumed'] / 'iter_4.pth', tmp_path / 'iter_4.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    train(PROCD, tmp_path, synthetic_root, 8, '--resume',
          options=[*runs['teacher'], 'custom_hooks=[]'])
    assert len(differing(runs['straight'] / 'iter_8.pth', tmp_path / 'iter_8.pth')) > 100


def test_bare_resume_skips_a_corrupt_latest_checkpoint(runs, synthetic_root, tmp_path):
    good = tmp_path / 'iter_4.pth'
    shutil.copy(runs['resumed'] / 'iter_4.pth', good)
    corrupt = tmp_path / 'iter_8.pth'
    corrupt.write_bytes((runs['resumed'] / 'iter_8.pth').read_bytes()[:100_000])
    (tmp_path / 'last_checkpoint').write_text(str(corrupt))
    before = {p: open(p, 'rb').read() for p in (good, corrupt)}
    # max_iters=4: resuming at iteration 4 trains nothing more
    result = train(PROCD, tmp_path, synthetic_root, 4, '--resume', options=runs['teacher'])
    log = result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith('warning: ')]
    assert len(warnings) == 1 and str(corrupt) in warnings[0], result.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 4' in log and 'Traceback' not in log
    assert {p: open(p, 'rb').read() for p in (good, corrupt)} == before


# ------------------------------------------------------------------ faults during a save

FAULTS = '''
"""Faults injected into a training run by tests/test_resume.py."""
import os
import signal

import mmengine.config.config as config_module
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

ARMED = []
_format_code = config_module.FormatCode
# as from a terminal: a shell starts background jobs (`make test &`) with SIGINT ignored,
# and an ignored SIGINT rightly stays ignored by the tool
signal.signal(signal.SIGINT, signal.default_int_handler)


def _format_code_interrupted(*args, **kwargs):
    # SIGINT where mmengine formats the config of the checkpoint it saves
    if ARMED and os.environ.get('FAULT') == 'sigint':
        ARMED.clear()
        os.kill(os.getpid(), signal.SIGINT)
    return _format_code(*args, **kwargs)


config_module.FormatCode = _format_code_interrupted
_fsync = os.fsync


def _fsync_killed(fd):
    # SIGKILL while the checkpoint is written: its bytes are in the temporary file, not renamed
    if ARMED and os.environ.get('FAULT') == 'kill':
        print(f'killed while writing {os.readlink(f"/proc/self/fd/{fd}")}', flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return _fsync(fd)


os.fsync = _fsync_killed


@HOOKS.register_module()
class ArmFaultHook(Hook):
    """Arms the fault in iteration FAULT_AT, before its checkpoint is saved."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == int(os.environ.get('FAULT_AT', '1')):
            ARMED.append(True)
'''


def faulty_config(tmp_path):
    (tmp_path / 'faults.py').write_text(FAULTS)
    config = tmp_path / 'student_faults.py'
    config.write_text(
        f"_base_ = '{REPO}/{STUDENT}'\n"
        "custom_imports = dict(imports=['procd_mm', 'faults'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='RNGStateHook'), dict(type='ArmFaultHook')]\n")
    return config


def fault_args(config, work_dir, root):
    return ['tools/train.py', str(config), '--work-dir', str(work_dir), '--cfg-options',
            'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=1',
            'train_dataloader.batch_size=1', *no_val(root)]


def test_sigint_during_a_save_finishes_it_then_stops_with_one_line(synthetic_root, tmp_path):
    config, work = faulty_config(tmp_path), tmp_path / 'work'
    # SIGINT while the checkpoint of iteration 1 formats its config
    result = tool_runner().run(*fault_args(config, work, synthetic_root),
                               env={'PYTHONPATH': str(tmp_path), 'FAULT': 'sigint',
                                    'FAULT_AT': '1'})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 130, result.stderr[-3000:]
    assert lines[-1] == (f'interrupted (SIGINT): the checkpoints in {work} are whole; '
                         'continue with --resume')
    assert 'Failed to format' not in result.stderr and 'Traceback' not in result.stderr
    saved = torch.load(work / 'iter_1.pth', weights_only=True)
    assert saved['meta']['iter'] == 1 and 'rng_state' in saved
    assert open(work / 'last_checkpoint').read() == str(work / 'iter_1.pth')
    assert not osp.exists(work / 'iter_2.pth')


def test_training_killed_while_saving_leaves_whole_checkpoints(synthetic_root, tmp_path):
    config, work = faulty_config(tmp_path), tmp_path / 'work'
    # SIGKILL in the middle of saving iter_2.pth (iter_1.pth was saved before)
    result = tool_runner().run(*fault_args(config, work, synthetic_root),
                               env={'PYTHONPATH': str(tmp_path), 'FAULT': 'kill',
                                    'FAULT_AT': '2'})
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    killed_in = result.stdout.strip().splitlines()[-1]
    assert killed_in.startswith(f'killed while writing {work}/.iter_2.pth.'), killed_in
    assert not osp.exists(work / 'iter_2.pth'), 'a partial iter_2.pth is on disk'
    assert torch.load(work / 'iter_1.pth', weights_only=True)['meta']['iter'] == 1
    assert open(work / 'last_checkpoint').read() == str(work / 'iter_1.pth')


SAVE_TWICE = '''
import os
import signal
import sys

import torch
from mmengine.runner.checkpoint import save_checkpoint

import procd_mm  # noqa: F401  (registers the atomic_local backend)

path = sys.argv[1]
backend = dict(backend='atomic_local')   # what AtomicCheckpointHook saves through
save_checkpoint({'meta': {'version': 'old'}, 'state_dict': {'w': torch.zeros(8)}}, path,
                backend_args=backend)


def fsync_killed(fd):  # the new file is written, not yet renamed: SIGKILL now
    os.kill(os.getpid(), signal.SIGKILL)


os.fsync = fsync_killed
save_checkpoint({'meta': {'version': 'new'}, 'state_dict': {'w': torch.ones(4_000_000)}}, path,
                backend_args=backend)
'''


def test_checkpoint_overwritten_by_a_killed_save_is_the_old_one(tmp_path):
    path = tmp_path / 'iter_4.pth'
    script = tmp_path / 'save_twice.py'
    script.write_text(SAVE_TWICE)
    result = tool_runner().run(str(script), str(path))
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    old = torch.load(path, weights_only=True)
    assert old['meta']['version'] == 'old' and torch.equal(old['state_dict']['w'],
                                                           torch.zeros(8))
    temporary = glob.glob(str(tmp_path / '.iter_4.pth.*.tmp'))
    assert len(temporary) == 1 and os.path.getsize(temporary[0]) > 16_000_000  # the new one
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['iter_4.pth', 'save_twice.py', osp.basename(temporary[0])])


# ------------------------------------------------------------------ with validation, by epoch

EPOCH_BASED = '''
_base_ = '{student}'
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=2, val_interval=1)
train_dataloader = dict(batch_size=2, sampler=dict(type='DefaultSampler', shuffle=True))
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
log_processor = dict(by_epoch=True)
'''


@pytest.mark.slow
@pytest.mark.parametrize('loop', ['iter', 'epoch'])
def test_resume_is_bit_exact_with_validation_in_between(loop, synthetic_root, tmp_path):
    """The student, validated between checkpoints: validation does not move the RNG states."""
    if loop == 'epoch':  # 2 epochs of 4 batches, a checkpoint and a validation after each
        config = tmp_path / 'student_epochs.py'
        config.write_text(EPOCH_BASED.format(student=f'{REPO}/{STUDENT}'))
        stop = ['train_cfg.max_epochs=1']
        first, last = 'epoch_1.pth', 'epoch_2.pth'
        options = []
    else:  # 4 iterations, validation and a checkpoint every 2
        config = STUDENT
        stop = ['train_cfg.max_iters=2']
        first, last = 'iter_2.pth', 'iter_4.pth'
        options = ['train_cfg.max_iters=4', 'train_cfg.val_interval=2',
                   'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=1']

    def run(work_dir, resume=(), more=()):
        result = tool_runner().run('tools/train.py', str(config), '--work-dir', str(work_dir),
                                   *resume, '--cfg-options', *options, *more,
                                   *data_options(synthetic_root))
        assert result.returncode == 0, result.stderr[-5000:]
        return result.stdout + result.stderr

    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    assert 'bbox_mAP' in run(straight)
    run(resumed, more=stop)
    log = run(resumed, resume=['--resume'])
    assert 'resumed epoch' in log and 'RNGStateHook:' not in log
    assert differing(straight / first, resumed / first) == []
    assert differing(straight / last, resumed / last) == []

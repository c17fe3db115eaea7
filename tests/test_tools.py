"""tools/train.py, tools/test.py, tools/dist_train.sh on CPU: training, resume, evaluation."""
import glob
import os
import os.path as osp

import pytest
import torch

import procd_mm  # noqa: F401  (torch.load of mmengine checkpoints)
from tests.conftest import data_options, run_tool

CONFIG = 'configs/synthetic/student_tiny.py'
N = 3


def train(work_dir, root, iters, *extra, check=True):
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={N}', 'default_hooks.logger.interval=1',
            'param_scheduler.0.end=10']
    return run_tool('tools/train.py', CONFIG, '--work-dir', str(work_dir), *extra,
                    '--cfg-options', *opts, *data_options(root), check=check)


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train_n')
    train(work_dir, synthetic_root, N)
    return work_dir


def test_resume_continues_iteration_optimizer_and_schedule(trained, synthetic_root,
                                                           tmp_path_factory):
    straight = tmp_path_factory.mktemp('train_2n')
    train(straight, synthetic_root, 2 * N)

    result = train(trained, synthetic_root, 2 * N, '--resume', str(trained / f'iter_{N}.pth'))
    assert f'resumed epoch: 0, iter: {N}' in result.stdout + result.stderr
    first = load(trained / f'iter_{N}.pth')
    resumed, reference = load(trained / f'iter_{2 * N}.pth'), load(straight / f'iter_{2 * N}.pth')

    assert first['meta']['iter'] == N and resumed['meta']['iter'] == 2 * N
    steps = {int(s['step']) for s in resumed['optimizer']['state'].values()}
    assert steps == {2 * N}, 'AdamW state must continue counting from the resumed step'
    assert resumed['param_schedulers'] == reference['param_schedulers']
    assert resumed['param_schedulers'][1]['last_step'] == 2 * N
    assert resumed['optimizer']['param_groups'][0]['lr'] == pytest.approx(
        reference['optimizer']['param_groups'][0]['lr'], rel=1e-9)
    assert resumed['optimizer']['param_groups'][0]['lr'] != pytest.approx(
        first['optimizer']['param_groups'][0]['lr'])
    # the original checkpoint survives the resumed run untouched
    assert load(trained / f'iter_{N}.pth')['meta']['iter'] == N


def test_test_tool_computes_coco_metrics(trained, synthetic_root, tmp_path):
    table = tmp_path / 'table'
    result = run_tool('tools/test.py', CONFIG, str(trained / f'iter_{N}.pth'),
                      '--work-dir', str(tmp_path), '--paper-table', str(table),
                      '--cfg-options', *data_options(synthetic_root))
    log = result.stdout + result.stderr
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95' in log  # pycocotools' summary
    assert 'coco/bbox_mAP_50:' in log
    assert (table / 'per_class_ap50.json').is_file() and (table / 'per_class_ap50.md').is_file()
    metrics = glob.glob(str(tmp_path / '*' / '*.json'))
    assert metrics, 'mmengine writes the test metrics as JSON in the work dir'


def test_dist_train_two_cpu_processes(synthetic_root, tmp_path):
    # every rank asserts a finite loss at every iteration (mmdet's CheckInvalidLossHook);
    # a config setting custom_hooks lists RNGStateHook too
    config = tmp_path / 'checked.py'
    config.write_text(f"_base_ = '{osp.abspath(CONFIG)}'\n"
                      "custom_hooks = [dict(type='RNGStateHook'), "
                      "dict(type='CheckInvalidLossHook', interval=1)]\n")
    result = run_tool(
        'tools/dist_train.sh', str(config), '2', '--work-dir', str(tmp_path), '--cfg-options',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
        *data_options(synthetic_root), env={'PORT': '29517'})
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert sorted(os.listdir(tmp_path)).count('iter_2.pth') == 1
    saved = load(tmp_path / 'iter_2.pth')
    assert saved['meta']['iter'] == 2
    ranks = saved['rng_state']['ranks']  # the random states of both processes
    assert len(ranks) == 2 and all('numpy' in r and 'torch' in r for r in ranks)


# Bad input (missing config, data root or checkpoints, --amp on CPU, ...) is the sweep of
# docs/reliability.md, run row by row by tests/test_reliability.py.


def test_a_test_run_that_scores_nothing_fails(trained, synthetic_root, tmp_path):
    """No detection at all (here: a score threshold above every score): mmdet's metric
    computes nothing; the run ends with one line and status 1 instead of printing no metric."""
    result = run_tool('tools/test.py', CONFIG, str(trained / f'iter_{N}.pth'),
                      '--work-dir', str(tmp_path), '--cfg-options',
                      'model.test_cfg.rcnn.score_thr=1.01', *data_options(synthetic_root),
                      check=False)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        'error: no metric was computed: the model of ')

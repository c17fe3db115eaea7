"""procd_mm/engine/hooks/atomic_checkpoint_hook.py on a real runner (the tiny Cascade student):
the content digest, delete-after-save, ``last_checkpoint`` and no best checkpoint chosen on
an undefined metric."""
import math
import os
import os.path as osp

import pytest
import torch

from procd_mm.apis import build_runner, load_config
from procd_mm.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook, is_defined
from procd_mm.utils.checkpoint_io import DIGEST_KEY, content_digest, read_checkpoint
from tests.conftest import REPO

STUDENT = f'{REPO}/configs/synthetic/student_tiny.py'


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """Two iterations, a checkpoint every iteration, one kept, best by bbox mAP."""
    root = synthetic_root.rstrip('/') + '/'
    work_dir = str(tmp_path_factory.mktemp('atomic') / 'work')
    cfg = load_config(STUDENT, {
        'train_dataloader.dataset.data_root': root,
        'train_cfg': dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100),
        'default_hooks.checkpoint': dict(type='AtomicCheckpointHook', by_epoch=False,
                                         interval=1, max_keep_ckpts=1,
                                         save_best='coco/bbox_mAP', rule='greater'),
        'param_scheduler': [], 'val_dataloader': None, 'val_cfg': None,
        'val_evaluator': None})
    cfg.work_dir = work_dir
    runner = build_runner(cfg, STUDENT, ('train', ))
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))
    return runner, hook, work_dir


def test_checkpoints_carry_the_digest_of_what_they_hold(trained):
    runner, _, work_dir = trained
    checkpoint = read_checkpoint(osp.join(work_dir, 'iter_2.pth'), mmap=False)
    assert checkpoint['meta'][DIGEST_KEY] == content_digest(checkpoint)
    assert set(checkpoint['state_dict']) == set(runner.model.state_dict())
    assert 'optimizer' in checkpoint and 'rng_state' in checkpoint


def test_only_the_newest_checkpoint_stays_and_last_checkpoint_names_it(trained):
    _, _, work_dir = trained
    files = set(os.listdir(work_dir))
    assert 'iter_2.pth' in files and 'iter_1.pth' not in files
    assert not [f for f in files if f.startswith('.')], 'a temporary file was left'
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'iter_2.pth')


def test_no_best_checkpoint_is_chosen_on_an_undefined_metric(trained, caplog):
    runner, hook, work_dir = trained
    best = osp.join(work_dir, 'best_coco_bbox_mAP_iter_2.pth')
    for undefined in (-1.0, float('nan')):
        hook.after_val_epoch(runner, {'coco/bbox_mAP': undefined, 'coco/bbox_mAP_50': 0.5})
        assert not osp.exists(best)
        assert 'best_score' not in runner.message_hub.runtime_info
    hook.after_val_epoch(runner, {'coco/bbox_mAP': 0.25})
    assert osp.exists(best) and runner.message_hub.get_info('best_score') == 0.25
    # a later undefined evaluation leaves the best one as it was
    before = open(best, 'rb').read()
    hook.after_val_epoch(runner, {'coco/bbox_mAP': -1.0})
    assert runner.message_hub.get_info('best_score') == 0.25
    assert open(best, 'rb').read() == before
    # a key the evaluation does not report stays mmengine's error, not a silent skip
    with pytest.raises(KeyError):
        hook.after_val_epoch(runner, {'coco/bbox_mAP_50': 0.5})


def test_which_scores_are_defined():
    assert is_defined(0.0) and is_defined(0.731) and is_defined(torch.tensor(0.5))
    assert not any(is_defined(v) for v in (-1, -1.0, math.nan, math.inf, None, 'n/a'))

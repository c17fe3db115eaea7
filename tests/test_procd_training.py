"""ProC-KD through the real tools: each L_emb choice, 2-process CPU DDP, student export."""
import copy
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import procd_mm  # noqa: F401
from tests.conftest import REPO, data_options, run_tool

PROCD = f'{REPO}/configs/synthetic/procd_tiny.py'
STUDENT = f'{REPO}/configs/synthetic/student_tiny.py'
EMB_VARIANTS = {
    'cwd': '',
    'fbod': "model = dict(emb_loss=dict(_delete_=True, type='FBODEmbeddingLoss', "
            'in_channels=64))',
    'fbkd': "model = dict(emb_loss=dict(_delete_=True, type='SwinFBKDEmbeddingLoss', stage=2, "
            'student_blocks=(0, 1), teacher_blocks=(2, 1)))',
    'none': 'model = dict(emb_loss=None)',
}
ITERS = 2


def train_procd(config, work_dir, root, teacher_ckpt, iters=ITERS, script='tools/train.py',
                *launcher):
    return run_tool(script, *launcher, str(config), '--work-dir', str(work_dir),
                    '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
                    f'train_cfg.max_iters={iters}', 'train_cfg.val_interval=1000',
                    'default_hooks.logger.interval=1', *data_options(root))


def logged_scalars(work_dir):
    import glob
    path = sorted(glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json')))[-1]
    return [json.loads(line) for line in open(path)]


@pytest.fixture(scope='module')
def cwd_run(synthetic_root, teacher_ckpt, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('procd_cwd')
    train_procd(PROCD, work_dir, synthetic_root, teacher_ckpt)
    return work_dir


@pytest.mark.parametrize('emb', sorted(EMB_VARIANTS))
def test_each_emb_choice_trains_with_logged_losses(emb, cwd_run, synthetic_root, teacher_ckpt,
                                                   tmp_path):
    if emb == 'cwd':
        work_dir = cwd_run
    else:
        config = tmp_path / f'procd_tiny_{emb}.py'
        config.write_text(f"_base_ = '{PROCD}'\n{EMB_VARIANTS[emb]}\n")
        work_dir = tmp_path / 'work'
        train_procd(config, work_dir, synthetic_root, teacher_ckpt)
    records = [r for r in logged_scalars(work_dir) if 'loss' in r]
    assert [r['iter'] for r in records] == list(range(1, ITERS + 1))
    last = records[-1]
    for key in ('loss', 'loss_con', 'loss_procls_teacher', 'loss_procls_student', 's2.loss_cls'):
        assert math.isfinite(last[key]), key
    emb_keys = [k for k in last if k.startswith('loss_emb_')]
    expected = {'cwd': 'loss_emb_cwd_p', 'fbod': 'loss_emb_fbod_p', 'fbkd': 'loss_emb_fbkd_',
                'none': None}[emb]
    if expected is None:
        assert not emb_keys
    else:
        assert emb_keys and all(k.startswith(expected) for k in emb_keys)
        assert all(math.isfinite(last[k]) for k in emb_keys)


def test_two_process_cpu_ddp(synthetic_root, teacher_ckpt, tmp_path):
    result = run_tool('tools/dist_train.sh', PROCD, '2', '--work-dir', str(tmp_path),
                      '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
                      'train_cfg.max_iters=2', 'train_cfg.val_interval=1000',
                      'default_hooks.logger.interval=1', *data_options(synthetic_root),
                      env={'PORT': '29533'})
    assert 'GPU number: 2' in result.stdout + result.stderr
    assert math.isfinite([r for r in logged_scalars(tmp_path) if 'loss' in r][-1]['loss_con'])
    assert osp.isfile(tmp_path / 'iter_2.pth')


def predict(model, batch):
    model.eval()
    with torch.no_grad():
        return model.test_step(copy.deepcopy(batch))


def test_export_student_roundtrip(cwd_run, synthetic_root, tmp_path):
    exported = tmp_path / 'student.pth'
    run_tool('tools/model_converters/export_student.py', str(cwd_run / f'iter_{ITERS}.pth'),
             str(exported), '--check-config', STUDENT)
    state = torch.load(exported, weights_only=True)['state_dict']
    assert not any(k.startswith(('architecture.', 'teacher.', 'prototype', 'feature_aug',
                                 'emb_loss')) for k in state)

    from mmdet.registry import DATASETS
    from mmdet.registry import MODELS as DET_MODELS
    from mmrazor.registry import MODELS as RAZOR_MODELS
    init_default_scope('mmdet')
    student = DET_MODELS.build(Config.fromfile(STUDENT).model)
    missing, unexpected = student.load_state_dict(state, strict=True)
    assert not missing and not unexpected

    procd_cfg = Config.fromfile(PROCD)
    procd_cfg.model.teacher_strict = False
    procd_cfg.model.teacher_ckpt = None
    distiller = RAZOR_MODELS.build(procd_cfg.model)
    load_checkpoint(distiller, str(cwd_run / f'iter_{ITERS}.pth'), map_location='cpu')

    ds_cfg = copy.deepcopy(procd_cfg.val_dataloader.dataset)
    ds_cfg.data_root = synthetic_root
    dataset = DATASETS.build(ds_cfg)
    batch = pseudo_collate([dataset[0], dataset[1]])
    ours, theirs = predict(student, batch), predict(distiller, batch)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.equal(a.pred_instances.scores, b.pred_instances.scores)
        assert torch.equal(a.pred_instances.labels, b.pred_instances.labels)

    result = run_tool('tools/test.py', STUDENT, str(exported), '--work-dir', str(tmp_path),
                      '--cfg-options', *data_options(synthetic_root))
    assert 'coco/bbox_mAP_50:' in result.stdout + result.stderr


def test_export_refuses_a_plain_checkpoint(tmp_path):
    plain = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'backbone.w': torch.zeros(1)}}, plain)
    result = run_tool('tools/model_converters/export_student.py', str(plain),
                      str(tmp_path / 'out.pth'), check=False)
    assert result.returncode != 0 and 'not a distiller checkpoint' in result.stderr
    assert not osp.exists(tmp_path / 'out.pth')


@pytest.mark.parametrize('student, levels', [('retinanet', 4), ('rtmdet', 3)])
def test_dense_student_through_the_tools(student, levels, synthetic_root, teacher_ckpt,
                                         tmp_path):
    """The tiny RetinaNet and RTMDet distillers train with tools/train.py (the dense prototype
    path's terms logged, CWD on every student level), export to a plain mmdet checkpoint that
    fits the student config, and tools/test.py evaluates it (with the paper's per-class
    table)."""
    work = tmp_path / 'train'
    train_procd(f'{REPO}/configs/synthetic/procd-{student}_tiny.py', work, synthetic_root,
                teacher_ckpt)
    last = [r for r in logged_scalars(work) if 'loss' in r][-1]
    emb = [f'loss_emb_cwd_p{i}' for i in range(levels)]
    for key in ('loss_cls', 'loss_bbox', *emb, 'loss_procls_teacher', 'loss_procls_student',
                'loss_con'):
        assert math.isfinite(last[key]), key
    assert f'loss_emb_cwd_p{levels}' not in last
    student = f'{REPO}/configs/synthetic/student-{student}_tiny.py'
    exported = tmp_path / 'student.pth'
    run_tool('tools/model_converters/export_student.py', str(work / f'iter_{ITERS}.pth'),
             str(exported), '--check-config', student)
    # two iterations leave every focal-loss score near its 0.01 prior: keep all detections
    table = tmp_path / 'table'
    result = run_tool('tools/test.py', student, str(exported), '--work-dir', str(tmp_path),
                      '--paper-table', str(table), '--cfg-options',
                      'model.test_cfg.score_thr=0.0', *data_options(synthetic_root))
    assert 'coco/bbox_mAP_50:' in result.stdout + result.stderr
    row = json.loads((table / 'per_class_ap50.json').read_text())
    assert tuple(row['classes']) == Config.fromfile(student).classes


def test_a_kill_during_an_export_leaves_the_old_file_or_nothing(cwd_run, tmp_path):
    """SIGKILL while the export writes (its hidden temporary file exists): OUT is the earlier
    file, byte for byte, or absent when there was none; never a partial checkpoint."""
    import os
    import signal
    import subprocess
    import sys
    import time

    src = str(cwd_run / f'iter_{ITERS}.pth')
    killed = {True: 0, False: 0}  # had an earlier file -> kills while writing
    for attempt in range(12):
        had_old = attempt % 2 == 0
        out_dir = tmp_path / f'attempt{attempt}'
        out_dir.mkdir()
        out = out_dir / 'student.pth'
        if had_old:
            out.write_bytes(b'an earlier export')
        proc = subprocess.Popen([sys.executable, 'tools/model_converters/export_student.py',
                                 src, str(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if any(p.name.startswith('.student.pth.') for p in out_dir.iterdir()):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.0005)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            killed[had_old] += 1
            if had_old:
                assert out.read_bytes() == b'an earlier export'
            else:
                assert not out.exists()
        else:  # finished before the kill: the whole student
            assert proc.returncode == 0
            assert 'state_dict' in torch.load(out, weights_only=True)
        assert [p.name for p in out_dir.iterdir() if p.name.endswith('.pth')] == \
            (['student.pth'] if out.exists() else [])
        if killed[True] and killed[False]:
            break
    assert killed[True] and killed[False], f'no kill landed during the write: {killed}'

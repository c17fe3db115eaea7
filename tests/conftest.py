"""Shared fixtures: synthetic Cityscapes-format data and tool invocation."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER_TINY = f'{REPO}/configs/synthetic/teacher_tiny.py'


def data_options(root: str):
    """``--cfg-options`` pointing the synthetic configs at ``root``."""
    root = root.rstrip('/') + '/'
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={root}annotations/instancesonly_filtered_gtFine_val.json',
        f'test_evaluator.ann_file={root}annotations/instancesonly_filtered_gtFine_val.json',
    ]


def run_tool(*args, timeout=600, env=None, check=True):
    """Run ``python tools/...`` (or a shell script) from the repo root; return the result."""
    cmd = [sys.executable, *args] if args[0].endswith('.py') else list(args)
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    full_env['PATH'] = osp.dirname(sys.executable) + os.pathsep + full_env.get('PATH', '')
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                            env=full_env)
    if check and result.returncode != 0:
        raise AssertionError(f'{cmd} failed ({result.returncode}):\n'
                             f'{result.stdout[-3000:]}\n{result.stderr[-5000:]}')
    return result


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A small synthetic Cityscapes tree with COCO annotations."""
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
    root = str(tmp_path_factory.mktemp('synthetic_cityscapes'))
    generate_synthetic_cityscapes(root, seed=0, num_train=8, num_val=4)
    return root


@pytest.fixture(scope='session')
def teacher_ckpt(tmp_path_factory):
    """A real checkpoint file of the tiny teacher (random weights, fixed seed)."""
    from mmdet.registry import MODELS as DET_MODELS
    init_default_scope('mmdet')
    torch.manual_seed(0)
    teacher = DET_MODELS.build(Config.fromfile(TEACHER_TINY).model)
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, path)
    return str(path)

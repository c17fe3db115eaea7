"""The headline command on CPU: ``tools/dist_train.sh configs/procd_swin_foggy.py 2``.

The real Swin-B teacher and Swin-T student, their 4conv1fc SyncBN heads, n = 72 prototypes
on P5, two gloo processes, two iterations on synthetic Foggy Cityscapes at 1024x512 (with
``finest_scale`` set from the data, so that every image has ground-truth RoIs, which the
samplers add to the proposals, on FPN level 3), a random teacher
(``teacher_strict=False``) and a random stand-in for the ImageNet Swin-T checkpoint placed
in the torch hub cache the student's ``init_cfg`` downloads to.
"""
import json
import os
import os.path as osp

import pytest
import torch

from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
from tests.conftest import run_tool
from tests.test_models.test_swin_converter import official_state_dict

SWIN_T_URL_NAME = 'swin_tiny_patch4_window7_224.pth'


def imagenet_swin_t(path: str) -> None:
    """An ImageNet Swin-T checkpoint in the official layout (random values)."""
    torch.manual_seed(0)
    state = official_state_dict(embed=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24))
    model = {k[len('backbone.'):]: torch.randn_like(v.float()) * 0.02 if v.is_floating_point()
             else v for k, v in state.items()
             if k.startswith('backbone.') and not k.startswith('backbone.norm')}
    torch.save({'model': model}, path)


@pytest.mark.slow
def test_headline_command_trains_two_iterations_on_two_cpu_processes(tmp_path):
    root = str(tmp_path / 'cityscapes')
    generate_synthetic_cityscapes(root, seed=0, num_train=8, num_val=2, height=512, width=1024)
    foggify_cityscapes(root, 0.02, splits=('train', 'val'))
    hub = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    hub.mkdir(parents=True)
    imagenet_swin_t(str(hub / SWIN_T_URL_NAME))
    ann = f'{root}/annotations/instancesonly_filtered_gtFine_'
    # level 3 holds RoIs of sqrt(area) >= 8 * finest_scale: the largest object of every train
    # image reaches it (the synthetic objects are smaller than Cityscapes' at this size, so
    # the paper's 56 scaled to 28 would leave level 3 to chance proposals)
    with open(f'{ann}train.json') as f:
        coco = json.load(f)
    largest = {}
    for a in coco['annotations']:
        side = (a['bbox'][2] * a['bbox'][3]) ** 0.5
        largest[a['image_id']] = max(largest.get(a['image_id'], 0), side)
    finest_scale = int(min(largest.values()) // 8)
    assert len(largest) == 8 and 4 <= finest_scale <= 28, largest
    options = [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader')
               for key in (f'dataset.data_root={root}/', 'num_workers=0',
                           'persistent_workers=False')]
    options += [f'val_evaluator.ann_file={ann}val.json', f'test_evaluator.ann_file={ann}val.json',
                'train_dataloader.dataset.pipeline.2.scale=[(1024,512),(1024,512)]',
                'val_dataloader.dataset.pipeline.1.scale=(1024,512)',
                'train_cfg.max_epochs=1', 'train_cfg.val_interval=10', 'randomness.seed=0',
                'model.teacher_ckpt=None', 'model.teacher_strict=False',
                f'model.architecture.roi_head.bbox_roi_extractor.finest_scale={finest_scale}',
                f'model.architecture.roi_head.mask_roi_extractor.finest_scale={finest_scale}',
                'default_hooks.logger.interval=1']
    work_dir = tmp_path / 'work'
    result = run_tool('tools/dist_train.sh', 'configs/procd_swin_foggy.py', '2', '--work-dir',
                      str(work_dir), '--cfg-options', *options, timeout=1500,
                      env=dict(TORCH_HOME=str(tmp_path / 'torch_home'), PORT='29561'))
    log = result.stdout + result.stderr
    # 4 per cascade stage, student and teacher (the teacher's heads never run)
    assert '24 SyncBatchNorm layers run as CPUSyncBatchNorm' in log
    assert osp.isfile(work_dir / 'epoch_1.pth')
    scalars = [json.loads(line) for line in open(next(
        osp.join(d, f) for d, _, files in os.walk(work_dir) for f in files
        if f == 'scalars.json'))]
    steps = [s for s in scalars if 'loss' in s]
    assert [s['iter'] for s in steps] == [1, 2]
    for step in steps:
        for key in ('loss_procls_teacher', 'loss_procls_student', 'loss_con', 'loss_emb_cwd_p3',
                    's2.loss_cls'):
            assert key in step and step[key] == step[key], (key, step)  # present, not NaN
    # every step scores level-3 rows (the logged values are those of rank 0)
    for key in ('loss_procls_teacher', 'loss_procls_student', 'loss_con'):
        assert all(step[key] > 0 for step in steps), (key, steps)


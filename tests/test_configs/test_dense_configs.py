"""The one-stage rows beyond the paper (configs/dense/): RTMDet-s and RetinaNet R-50 students
under the paper's COCO Swin-B teacher on Foggy Cityscapes."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

import procd_mm  # noqa: F401
from tests.conftest import REPO

DENSE = osp.join(REPO, 'configs', 'dense')
STUDENTS = {'rtmdet-s': 'rtmdet-s_foggy.py', 'retinanet_r50': 'retinanet_r50_foggy.py'}


def load(name: str) -> Config:
    return Config.fromfile(osp.join(DENSE, name))


@pytest.mark.parametrize('student', STUDENTS)
def test_rows_derive_as_the_paper_rows_do(student):
    procd, cwd = load(f'procd_{student}_foggy.py'), load(f'cwd_{student}_foggy.py')
    assert procd.model.type == 'ProCKD' and procd.model.get('lambda_pro', 1.0) == 1.0
    assert cwd.model.lambda_pro == 0.0
    assert procd.model.con_loss.type == 'DenseConsistencyLoss'
    assert procd.model.teacher.cfg_path.endswith('cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py')
    assert procd.model.architecture.cfg_path == f'configs/dense/{STUDENTS[student]}'
    for cfg in (procd, cwd, load(STUDENTS[student])):
        assert cfg.train_dataloader.dataset.type == 'FoggyCityscapesDataset'
        assert cfg.val_evaluator.type == 'PerClassAP50Metric'
    plain = {k: v for k, v in procd.model.to_dict().items() if k != 'lambda_pro'}
    assert plain == {k: v for k, v in cwd.model.to_dict().items() if k != 'lambda_pro'}


def test_rtmdet_keeps_its_own_schedule_and_pipeline():
    cfg = load('rtmdet-s_foggy.py')
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.max_epochs == 300
    assert any(h['type'] == 'PipelineSwitchHook' for h in cfg.custom_hooks)
    assert any(h['type'] == 'RNGStateHook' for h in cfg.custom_hooks)
    assert cfg.model.bbox_head.num_classes == 8


def _random_batch(h=320, w=320):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    samples, inputs = [], []
    for i in range(2):
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1., 1.), pad_shape=(h, w),
                                             batch_input_shape=(h, w), flip=False))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 10., 300., 300.], [40. + i, 60., 200., 180.]]),
            labels=torch.tensor([0, 7]))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['procd_rtmdet-s_foggy.py', 'procd_retinanet_r50_foggy.py'])
def test_full_size_distiller_builds_and_trains_one_iteration(name):
    """The full-size pair (Swin-B teacher, no checkpoint): levels matched by stride, one loss
    step with every term finite and gradients to the student and the distillation modules."""
    cfg = load(name)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(teacher_ckpt=None, teacher_strict=False)
    model_cfg.architecture = Config.fromfile(osp.join(REPO, model_cfg.architecture.cfg_path)).model
    model_cfg.architecture.backbone.init_cfg = None
    init_default_scope('mmdet')
    model = MODELS.build(model_cfg)
    model.train()
    assert model.prototype_level == 2 and model.teacher_level == 3
    data = model.data_preprocessor(_random_batch(), True)
    losses = model(**data, mode='loss')
    total, log_vars = model.parse_losses(losses)
    total.backward()
    assert {'loss_procls_teacher', 'loss_con', 'loss_emb_cwd_p0'} <= set(log_vars)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None for p in model.prototype_learning.parameters())

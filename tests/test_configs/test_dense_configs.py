"""The one-stage rows beyond the paper (configs/dense/): RTMDet-s and RetinaNet R-50 students
under the paper's COCO Swin-B teacher on Foggy Cityscapes, and RTMDet-tiny under mmdet's COCO
RTMDet-x."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

import procd_mm  # noqa: F401
from tests.conftest import REPO

DENSE = osp.join(REPO, 'configs', 'dense')
STUDENTS = {'rtmdet-s': 'rtmdet-s_foggy.py', 'retinanet_r50': 'retinanet_r50_foggy.py'}
PAIR = 'rtmdet-tiny_rtmdet-x'


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


def unscoped(cfg):
    """``cfg`` without the ``_scope_`` keys mmengine adds to what a base config inherits."""
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(unscoped(c) for c in cfg)
    if isinstance(cfg, dict):
        return {k: unscoped(v) for k, v in cfg.items() if k != '_scope_'}
    return cfg


def test_rtmdet_tiny_is_mmdets_tiny_row_on_foggy_cityscapes():
    """rtmdet-tiny_foggy.py: mmdet's tiny model and Mosaic settings, the foggy data, 8 classes;
    its distillers train on the same pipeline."""
    mmdet_tiny = get_config('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py')
    tiny = load('rtmdet-tiny_foggy.py')
    for part in ('backbone', 'neck'):
        assert tiny.model[part] == mmdet_tiny.model[part]
    assert tiny.model.bbox_head.num_classes == 8 and tiny.model.bbox_head.in_channels == 96
    assert tiny.train_dataloader.dataset.type == 'FoggyCityscapesDataset'
    assert unscoped(tiny.train_dataloader.dataset.pipeline) == mmdet_tiny.train_pipeline
    assert unscoped(tiny.custom_hooks[:2]) == mmdet_tiny.custom_hooks  # EMA, pipeline switch
    for name in (f'procd_{PAIR}_foggy.py', f'cwd_{PAIR}_foggy.py'):
        assert load(name).train_dataloader == tiny.train_dataloader


def test_the_rtmdet_pair_differs_in_width_only():
    procd, cwd = load(f'procd_{PAIR}_foggy.py'), load(f'cwd_{PAIR}_foggy.py')
    assert procd.model.teacher.cfg_path == 'mmdet::rtmdet/rtmdet_x_8xb32-300e_coco.py'
    assert procd.model.architecture.cfg_path == 'configs/dense/rtmdet-tiny_foggy.py'
    assert procd.model.emb_loss.student_channels == 96
    assert procd.model.emb_loss.teacher_channels == 320
    assert cwd.model.lambda_pro == 0.0 and procd.model.get('lambda_pro', 1.0) == 1.0


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
@pytest.mark.parametrize('name, teacher_level, widths', [
    ('procd_rtmdet-s_foggy.py', 3, (256, 128)),
    ('procd_retinanet_r50_foggy.py', 3, None),
    (f'procd_{PAIR}_foggy.py', 2, (320, 96)),
])
def test_full_size_distiller_builds_and_trains_one_iteration(name, teacher_level, widths):
    """The full-size pair (teacher without checkpoint): levels matched by stride, one loss
    step with every term finite and gradients to the student and the distillation modules."""
    cfg = load(name)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(teacher_ckpt=None, teacher_strict=False)
    model_cfg.architecture = Config.fromfile(osp.join(REPO, model_cfg.architecture.cfg_path)).model
    model_cfg.architecture.backbone.init_cfg = None
    init_default_scope('mmdet')
    model = MODELS.build(model_cfg)
    model.train()
    branch = model.prototype_branch
    assert branch.level == 2 and branch.teacher_level == teacher_level
    if widths is None:
        assert model.prototype_branch.teacher_projection is None
    else:
        assert (model.prototype_branch.teacher_projection.in_channels,
                model.prototype_branch.teacher_projection.out_channels) == widths
    data = model.data_preprocessor(_random_batch(), True)
    losses = model(**data, mode='loss')
    total, log_vars = model.parse_losses(losses)
    total.backward()
    assert {'loss_procls_teacher', 'loss_con', 'loss_emb_cwd_p0'} <= set(log_vars)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None for p in model.prototype_branch.prototype_learning.parameters())


@pytest.mark.slow
@pytest.mark.parametrize('name', [
    'rtmdet-s_foggy.py', 'retinanet_r50_foggy.py', 'rtmdet-tiny_foggy.py',
    'cwd_rtmdet-s_foggy.py', 'cwd_retinanet_r50_foggy.py', f'cwd_{PAIR}_foggy.py'])
def test_every_other_row_builds_at_full_size_and_trains_one_iteration(name):
    """The student rows (mmdet's detectors alone) and the CWD rows (no prototype branch): one
    loss step at full size, every term finite, gradients to the student only."""
    cfg = load(name)
    model_cfg = copy.deepcopy(cfg.model)
    distiller = model_cfg.get('type') == 'ProCKD'
    if distiller:
        model_cfg.update(teacher_ckpt=None, teacher_strict=False)
        model_cfg.architecture = Config.fromfile(
            osp.join(REPO, model_cfg.architecture.cfg_path)).model
        model_cfg.architecture.backbone.init_cfg = None
    else:
        model_cfg.backbone.init_cfg = None
    init_default_scope('mmdet')
    model = (MODELS if distiller else DET_MODELS).build(model_cfg)
    model.train()
    data = model.data_preprocessor(_random_batch(), True)
    total, log_vars = model.parse_losses(model(**data, mode='loss'))
    total.backward()
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    student = model.student if distiller else model
    assert any(p.grad is not None for p in student.backbone.parameters())
    if distiller:
        assert model.prototype_branch is None and 'loss_emb_cwd_p2' in log_vars
        assert all(p.grad is None for p in model.teacher.parameters())


def test_the_synthetic_rtmdet_is_mmdets_tiny_model():
    """configs/_base_/models/rtmdet-tiny_synthetic.py writes mmdet's RTMDet-tiny out: the same
    model but for the ImageNet initialisation and the number of classes."""
    ours = Config.fromfile(osp.join(REPO, 'configs/_base_/models/rtmdet-tiny_synthetic.py'))
    mmdet_tiny = get_config('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py').model.to_dict()
    mmdet_tiny['backbone'].pop('init_cfg')
    mmdet_tiny['bbox_head']['num_classes'] = 4
    assert ours.model.to_dict() == mmdet_tiny

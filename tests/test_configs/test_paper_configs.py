"""The paper-row configs under ``configs/`` (docs/reproduce.md): they load, build, train one
iteration, and each differs from its ProC-KD row only where the paper says."""
import copy
import functools
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import procd_mm  # noqa: F401  (repairs the stack, registers components)
from procd_mm.models.algorithms.model_cfg import resolve_model_cfg
from tests.conftest import REPO

CONFIG_DIR = osp.join(REPO, 'configs')
ROW_CONFIGS = sorted(
    osp.relpath(p, CONFIG_DIR) for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'),
                                                  recursive=True)
    if not osp.relpath(p, CONFIG_DIR).startswith(('_base_', 'synthetic', 'dense')))
SWIN_DATASETS = ('cityscapes', 'foggy', 'cityscapes2foggy', 'bdd-night-rainy', 'bdd-dusk-rainy')
# Table IX rows 1-10: (λ_emb, λ_pro, λ_stu)
TABLE_IX = [(0.3, 1.0, 1.0), (1.0, 0.3, 1.0), (1.0, 1.0, 0.3), (0.5, 1.0, 1.0), (1.0, 0.5, 1.0),
            (1.0, 1.0, 0.5), (0.8, 1.0, 1.0), (1.0, 0.8, 1.0), (1.0, 1.0, 0.8), (1.0, 1.0, 1.0)]
# One config per distinct structure: CWD / FBKD (backbone hooks) / FBOD embedding terms,
# prototype path with and without the student path, mask / no-mask Swin students, the
# same-task Faster R-CNN student; the exhaustive parametrisation is marked slow.
REPRESENTATIVE = {
    'procd_swin_foggy.py', 'fbkd-procd_swin_foggy.py', 'fbod_swin_foggy.py',
    'ablations/procd-wproto_swin_foggy.py', 'procd_swin_bdd-night-rainy.py',
    'procd_x101_r50_coco.py', 'student_swin_cityscapes.py', 'student_swin_bdd-dusk-rainy.py',
    'student_r50_coco.py'
}
# one training iteration per L_emb kind and per detector family in the default run
TRAIN_REPRESENTATIVE = {'procd_swin_foggy.py', 'fbkd-procd_swin_foggy.py', 'fbod_swin_foggy.py',
                        'procd_x101_r50_coco.py'}


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def load(name: str) -> Config:
    """A fresh copy of ``configs/<name>`` (parsed once per session; parsing is slow)."""
    return copy.deepcopy(_load(name))


def is_distill(cfg: Config) -> bool:
    """Whether the config trains a ProCKD distiller."""
    return cfg.model.get('type') == 'ProCKD'


def student_of(cfg: Config):
    """The student detector config of a row (a distiller names its student row's file)."""
    return resolve_model_cfg(cfg.model.architecture) if is_distill(cfg) else cfg.model


def build_model(cfg: Config):
    """Build the full-size model of ``cfg`` without teacher checkpoint or pretrained weights."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('type') == 'ProCKD':
        from mmrazor.registry import MODELS
        model_cfg.update(teacher_ckpt=None, teacher_strict=False)
    else:
        from mmdet.registry import MODELS
    return MODELS.build(model_cfg)


def flatten(value, prefix=''):
    """``{'a.b.0.c': leaf}`` for nested dicts / lists / tuples."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return {prefix: value}
    out = {}
    for k, v in items:
        out.update(flatten(v, f'{prefix}.{k}' if prefix else str(k)))
    return out


def diff(a: str, b: str) -> dict:
    """``{key: (value in a, value in b)}`` for every leaf where configs a and b differ."""
    fa, fb = flatten(load(a).to_dict()), flatten(load(b).to_dict())
    return {k: (fa.get(k), fb.get(k)) for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)}


def assert_only(differences: dict, allowed_prefixes) -> None:
    unexpected = {k: v for k, v in differences.items() if not k.startswith(allowed_prefixes)}
    assert not unexpected, f'rows differ beyond {allowed_prefixes}: {unexpected}'


# ---------------------------------------------------------------- loading and settings


def test_every_paper_row_has_a_config():
    expected = {f'{m}_swin_{d}.py' for d in SWIN_DATASETS for m in ('student', 'cwd', 'procd')}
    expected |= {'fbkd_swin_foggy.py', 'fbod_swin_foggy.py', 'fbkd-procd_swin_foggy.py'}
    expected |= {'student_r50_coco.py', 'cwd_x101_r50_coco.py', 'fbod_x101_r50_coco.py',
                 'procd_x101_r50_coco.py', 'ablations/procd-wproto_swin_foggy.py'}
    expected |= {f'ablations/procd-n{n}_swin_foggy.py' for n in (24, 48, 72, 96)}
    expected |= {f'ablations/procd-lambda-row{i:02d}_swin_foggy.py' for i in range(1, 11)}
    assert set(ROW_CONFIGS) == expected


@pytest.mark.parametrize('name', ROW_CONFIGS)
def test_config_loads_with_paper_schedule(name):
    cfg = load(name)
    assert cfg.custom_imports == dict(imports=['procd_mm'], allow_failed_imports=False)
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.train_dataloader.batch_size == 2
    if name.endswith('_coco.py'):  # the CWD paper's 2x schedule, mmdet's model zoo student
        assert cfg.train_cfg.max_epochs == 24 and cfg.optim_wrapper.optimizer.lr == 0.02
        return
    assert cfg.train_cfg.max_epochs == 36
    assert (cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.momentum,
            cfg.optim_wrapper.optimizer.weight_decay) == (0.01, 0.9, 0.0001)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'MultiStepLR']
    student = student_of(cfg)
    assert student.backbone.type == 'SwinTransformer'
    assert (student.backbone.embed_dims, student.backbone.depths) == (96, [2, 2, 6, 2])
    assert student.backbone.init_cfg.checkpoint.endswith('swin_tiny_patch4_window7_224.pth')
    classes = 7 if '_bdd-' in name else 8
    assert {h.num_classes for h in student.roi_head.bbox_head} == {classes}
    assert (student.roi_head.mask_head is None) == ('_bdd-' in name)


def test_teacher_config_has_the_public_checkpoint_heads():
    teacher = resolve_model_cfg(load('procd_swin_foggy.py').model.teacher)
    assert teacher.backbone.embed_dims == 128 and teacher.backbone.depths == [2, 2, 18, 2]
    assert teacher.backbone.num_heads == [4, 8, 16, 32] and teacher.backbone.window_size == 7
    for head in teacher.roi_head.bbox_head:
        assert (head.type, head.num_shared_convs, head.num_shared_fcs) == ('ConvFCBBoxHead', 4, 1)
        assert head.num_classes == 80 and head.reg_class_agnostic is False
        assert head.reg_decoded_bbox and head.loss_bbox == dict(type='GIoULoss', loss_weight=10.0)
        assert head.norm_cfg.type == 'SyncBN'
    assert teacher.roi_head.mask_head.num_classes == 80


# ---------------------------------------------------------------- rows differ only as the paper


@pytest.mark.parametrize('data', SWIN_DATASETS)
def test_cwd_and_student_rows_differ_from_procd_only_as_the_paper_says(data):
    assert diff(f'cwd_swin_{data}.py', f'procd_swin_{data}.py') == {
        'model.lambda_pro': (0.0, 1.0)}
    procd, student = load(f'procd_swin_{data}.py'), load(f'student_swin_{data}.py')
    assert procd.model.architecture == dict(cfg_path=f'configs/student_swin_{data}.py')
    assert student_of(procd) == dict(student.model, _scope_='mmdet')
    for key in ('train_dataloader', 'val_dataloader', 'test_evaluator', 'optim_wrapper',
                'param_scheduler', 'train_cfg'):
        assert procd[key] == student[key], key


def test_distiller_settings_are_the_same_on_every_dataset():
    def settings(name):
        model = load(name).model.to_dict()
        model.pop('architecture')
        return model
    reference = settings('procd_swin_foggy.py')
    assert reference['emb_loss']['type'] == 'CWDEmbeddingLoss'
    assert reference['prototype_learning'] == dict(type='PrototypeLearning', num_prototypes=72)
    assert reference['prototype_level'] == 3
    for data in SWIN_DATASETS:
        assert settings(f'procd_swin_{data}.py') == reference, data
    coco = settings('procd_x101_r50_coco.py')
    assert coco.pop('teacher')['cfg_path'] == TABLE_VI_TEACHER
    assert coco.pop('teacher_ckpt').startswith('https://download.openmmlab.com/')
    assert coco == {k: v for k, v in reference.items() if k not in ('teacher', 'teacher_ckpt')}


TABLE_VI_TEACHER = 'mmdet::cascade_rcnn/cascade-mask-rcnn_x101-32x4d_fpn_1x_coco.py'


def _mmdet_metafile_entry(name: str) -> dict:
    """``name``'s entry in the installed mmdet's ``cascade_rcnn/metafile.yml``."""
    import mmdet
    import yaml
    root = osp.dirname(mmdet.__file__)
    for configs in (osp.join(root, '.mim', 'configs'), osp.join(osp.dirname(root), 'configs')):
        path = osp.join(configs, 'cascade_rcnn', 'metafile.yml')
        if osp.exists(path):
            break
    else:
        pytest.skip('the installed mmdet ships no cascade_rcnn/metafile.yml')
    with open(path) as f:
        models = yaml.safe_load(f)['Models']
    return next(m for m in models if m['Name'] == name)


@pytest.mark.parametrize('name', ['procd_x101_r50_coco.py', 'cwd_x101_r50_coco.py',
                                  'fbod_x101_r50_coco.py'])
def test_table_vi_teacher_is_the_44_3_ap_x101_32x4d_checkpoint(name):
    """Paper Table VI's teacher row (44.3 AP) is mmdet's Cascade Mask R-CNN X-101-32x4d-FPN 1x."""
    entry = _mmdet_metafile_entry('cascade-mask-rcnn_x101-32x4d_fpn_1x_coco')
    box_ap = [r['Metrics']['box AP'] for r in entry['Results'] if r['Task'] == 'Object Detection']
    assert box_ap == [44.3]
    model = load(name).model
    assert model.teacher == dict(cfg_path=TABLE_VI_TEACHER)
    assert model.teacher_ckpt == entry['Weights']
    assert model.teacher_ckpt.endswith('/cascade_mask_rcnn_x101_32x4d_fpn_1x_coco_'
                                       '20200201-0f411b1f.pth')
    teacher = resolve_model_cfg(model.teacher)
    assert teacher.backbone.type == 'ResNeXt' and teacher.backbone.depth == 101
    assert (teacher.backbone.groups, teacher.backbone.base_width) == (32, 4)


def test_table_ii_feature_baselines():
    assert_only(diff('fbkd-procd_swin_foggy.py', 'procd_swin_foggy.py'), ('model.emb_loss.',))
    assert load('fbkd-procd_swin_foggy.py').model.emb_loss.type == 'SwinFBKDEmbeddingLoss'
    # detection FBKD rows distil the backbone's hidden features only (paper section IV-A)
    assert load('fbkd-procd_swin_foggy.py').model.emb_loss.attn_weight == 0.0
    assert diff('fbkd_swin_foggy.py', 'fbkd-procd_swin_foggy.py') == {
        'model.lambda_pro': (0.0, 1.0)}
    for fbod, procd in (('fbod_swin_foggy.py', 'procd_swin_foggy.py'),
                        ('fbod_x101_r50_coco.py', 'procd_x101_r50_coco.py')):
        assert_only(diff(fbod, procd), ('model.emb_loss.', 'model.lambda_pro'))
        assert load(fbod).model.emb_loss == dict(type='FBODEmbeddingLoss')
        assert load(fbod).model.lambda_pro == 0.0
    assert diff('cwd_x101_r50_coco.py', 'procd_x101_r50_coco.py') == {
        'model.lambda_pro': (0.0, 1.0)}


def test_table_vii_and_viii_rows():
    assert diff('ablations/procd-wproto_swin_foggy.py', 'procd_swin_foggy.py') == {
        'model.feature_augmentation.type': (None, 'FeatureAugmentation')}
    assert load('ablations/procd-wproto_swin_foggy.py').model.feature_augmentation is None
    for n in (24, 48, 96):
        assert diff(f'ablations/procd-n{n}_swin_foggy.py', 'procd_swin_foggy.py') == {
            'model.prototype_learning.num_prototypes': (n, 72)}
    assert diff('ablations/procd-n72_swin_foggy.py', 'procd_swin_foggy.py') == {}


@pytest.mark.parametrize('row', range(1, 11))
def test_table_ix_rows_differ_only_in_lambda(row):
    name = f'ablations/procd-lambda-row{row:02d}_swin_foggy.py'
    assert_only(diff(name, 'procd_swin_foggy.py'), ('model.lambda_',))
    model = load(name).model
    assert (model.lambda_emb, model.lambda_pro, model.lambda_stu) == TABLE_IX[row - 1]


# ---------------------------------------------------------------- build and train


def _build_params(names, fast=REPRESENTATIVE):
    return [pytest.param(n, marks=() if n in fast else pytest.mark.slow) for n in names]


@pytest.mark.parametrize('name', _build_params(ROW_CONFIGS))
def test_full_size_model_builds(name):
    cfg = load(name)
    model = build_model(cfg)
    student = model.student if is_distill(cfg) else model
    assert sum(p.numel() for p in student.parameters()) > 10_000_000
    if is_distill(cfg):
        assert all(not p.requires_grad for p in model.teacher.parameters())
        assert (model.prototype_branch is not None) == (cfg.model.lambda_pro > 0)


def _shrink_backbone(det: dict) -> None:
    """Swin at embed 32 (all blocks kept, so hooked block names stay), ResNet-18 for ResNe(X)t."""
    backbone = det['backbone']
    if backbone['type'] == 'SwinTransformer':
        backbone.update(embed_dims=32, num_heads=[1, 2, 4, 8], init_cfg=None)
        det['neck']['in_channels'] = [32, 64, 128, 256]
    else:
        det['backbone'] = dict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
                               norm_cfg=dict(type='BN'), style='pytorch', init_cfg=None)
        det['neck']['in_channels'] = [64, 128, 256, 512]


def _tiny_training_model(cfg: Config) -> dict:
    """The distiller of ``cfg`` with tiny backbones, few proposals and few sampled RoIs;
    necks, heads and the distillation terms keep their configured sizes."""
    model = copy.deepcopy(cfg.model.to_dict())
    model['teacher'] = resolve_model_cfg(copy.deepcopy(cfg.model.teacher)).to_dict()
    model['architecture'] = student_of(cfg).to_dict()
    for det in (model['architecture'], model['teacher']):
        _shrink_backbone(det)
    train_cfg = model['architecture']['train_cfg']
    train_cfg['rpn_proposal'].update(nms_pre=200, max_per_img=50)
    rcnn = train_cfg['rcnn'] if isinstance(train_cfg['rcnn'], list) else [train_cfg['rcnn']]
    for stage in rcnn:
        stage['sampler']['num'] = 16
    return model


H, W = 128, 192


def _batch(num_classes: int, with_mask: bool):
    """Two 128x192 images with two boxes each, as a dataloader would yield them."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    inputs, samples = [], []
    for i in range(2):
        inputs.append(torch.randint(0, 255, (3, H, W), dtype=torch.uint8))
        boxes = torch.tensor([[8., 8., 60., 70.], [50. + i, 20., 120., 90.]])
        gt = InstanceData(bboxes=boxes, labels=torch.tensor([0, num_classes - 1]))
        if with_mask:
            masks = torch.zeros(2, H, W, dtype=torch.uint8)
            for k, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
                masks[k, y1:y2, x1:x2] = 1
            gt.masks = BitmapMasks(masks.numpy(), H, W)
        sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W),
                                             scale_factor=(1., 1.), pad_shape=(H, W),
                                             batch_input_shape=(H, W), flip=False))
        sample.gt_instances = gt
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


DISTILL_CONFIGS = [n for n in ROW_CONFIGS if not n.startswith('student_')]


@pytest.mark.parametrize('name', _build_params(DISTILL_CONFIGS, TRAIN_REPRESENTATIVE))
def test_distill_config_trains_one_iteration(name):
    """Tiny backbones, small images: every configured loss term is present and finite, the
    student and the L_emb modules get gradients, the teacher none (hooks, layer names)."""
    cfg = load(name)
    cfg.model = _tiny_training_model(cfg)
    model = build_model(cfg)
    model.train()
    student = cfg.model.architecture
    heads = student['roi_head']['bbox_head']
    num_classes = (heads[0] if isinstance(heads, list) else heads)['num_classes']
    with_mask = student['roi_head'].get('mask_head') is not None
    data = model.data_preprocessor(_batch(num_classes, with_mask), True)
    losses = model(**data, mode='loss')
    total, log_vars = model.parse_losses(losses)
    total.backward()

    emb_kind = {'CWDEmbeddingLoss': 'cwd', 'FBODEmbeddingLoss': 'fbod',
                'SwinFBKDEmbeddingLoss': 'fbkd'}[cfg.model.emb_loss['type']]
    assert any(k.startswith(f'loss_emb_{emb_kind}') for k in log_vars), sorted(log_vars)
    assert ('loss_procls_teacher' in log_vars) == (cfg.model.lambda_pro > 0)
    assert ('loss_con' in log_vars) == (cfg.model.lambda_pro > 0
                                        and cfg.model.feature_augmentation is not None)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.student.backbone.parameters())
    # in the graph of the loss (with so few RoIs the level-3 terms may be zero)
    trained = [model.emb_loss]
    if cfg.model.lambda_pro > 0:
        branch = model.prototype_branch
        trained += [branch.prototype_learning, branch.feature_augmentation]
    trained = [part for part in trained if part is not None]
    for part in trained:
        params = list(part.parameters())
        assert not params or any(p.grad is not None for p in params), type(part).__name__


@pytest.mark.parametrize('name', ROW_CONFIGS)
def test_rows_evaluate_and_keep_the_best_checkpoint_by_the_papers_metric(name):
    """Tables II-IV report per-class AP50 and their mean, Table VI COCO AP."""
    cfg = load(name)
    coco = name.endswith('_coco.py')
    assert cfg.default_hooks.checkpoint.save_best == ('coco/bbox_mAP' if coco
                                                      else 'coco/bbox_mAP_50')
    assert cfg.default_hooks.checkpoint.rule == 'greater'
    if not coco:
        for key in ('val_evaluator', 'test_evaluator'):
            assert cfg[key].type == 'PerClassAP50Metric', (name, key)

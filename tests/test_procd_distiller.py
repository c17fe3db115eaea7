"""The ProCKD algorithm: gradient routing, frozen teacher, L_con on identical RoIs, errors."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

import procd_mm  # noqa: F401
from procd_mm.engine.launch import InputError
from tests.conftest import REPO
from tests.conftest import TEACHER_TINY as TEACHER

PROCD = f'{REPO}/configs/synthetic/procd_tiny.py'


def build(teacher_ckpt, **overrides):
    cfg = Config.fromfile(PROCD).model
    for key, value in dict(teacher_ckpt=teacher_ckpt, **overrides).items():
        cfg[key] = value  # replace, not merge
    init_default_scope('mmdet')
    torch.manual_seed(0)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def batch(synthetic_root):
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    ds_cfg = copy.deepcopy(Config.fromfile(PROCD).train_dataloader.dataset)
    ds_cfg.data_root = synthetic_root
    ds_cfg.pipeline = [p for p in ds_cfg.pipeline if p['type'] != 'RandomFlip']
    dataset = DATASETS.build(ds_cfg)
    return pseudo_collate([dataset[0], dataset[1]])


def losses_of(model, batch):
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    return model.loss(data['inputs'], data['data_samples'])


def total(value):
    return sum(value) if isinstance(value, (list, tuple)) else value


def reaches(loss, params):
    grads = torch.autograd.grad(total(loss), list(params), retain_graph=True, allow_unused=True)
    return any(g is not None and g.abs().sum() > 0 for g in grads)


def test_loss_terms_are_logged_separately(teacher_ckpt, batch):
    losses = losses_of(build(teacher_ckpt), batch)
    for key in ('loss_rpn_cls', 's0.loss_cls', 's2.loss_mask', 'loss_emb_cwd_p0',
                'loss_emb_cwd_p4', 'loss_con', 'loss_procls_teacher', 'loss_procls_student'):
        assert key in losses and torch.isfinite(total(losses[key])).all(), key


def test_gradients_go_where_spec_says(teacher_ckpt, batch):
    model = build(teacher_ckpt, emb_loss=dict(type='FBODEmbeddingLoss', in_channels=64))
    model.train()
    losses = losses_of(model, batch)
    student = [p for p in model.student.parameters()]
    protos = [model.prototype_learning.prototypes]
    proto_module = [p for n, p in model.prototype_learning.named_parameters() if n != 'prototypes']
    augment = list(model.feature_augmentation.parameters())
    connectors = list(model.emb_loss.parameters())

    assert not reaches(losses['loss_con'], protos + proto_module + augment)
    assert reaches(losses['loss_con'], student)
    for key in ('loss_procls_teacher', 'loss_procls_student'):
        assert reaches(losses[key], student) and reaches(losses[key], protos)
        assert reaches(losses[key], augment)
    assert reaches(losses['loss_procls_teacher'], proto_module)
    emb = sum(total(v) for k, v in losses.items() if k.startswith('loss_emb'))
    assert reaches(emb, student) and reaches(emb, connectors)
    assert not reaches(emb, protos + augment)

    assert not any(p.requires_grad for p in model.teacher.parameters())
    sum(total(v) for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in model.teacher.parameters())


def test_without_detach_target_l_con_reaches_augmentation(teacher_ckpt, batch):
    model = build(teacher_ckpt, detach_target=False)
    losses = losses_of(model, batch)
    assert reaches(losses['loss_con'], list(model.feature_augmentation.parameters()))


class IdentityAugmentation(torch.nn.Module):
    def forward(self, x, prototypes):
        return x


def test_l_con_is_exactly_zero_on_identical_rois(teacher_ckpt, batch):
    model = build(teacher_ckpt)
    model.feature_augmentation = IdentityAugmentation()
    losses = losses_of(model, batch)
    assert losses['loss_con'].item() == 0.0
    # the student path then sees exactly the student's own pyramid, anchors and RoIs
    plain = sum(total(v) for k, v in losses.items()
                if 'loss' in k and not k.startswith(('loss_emb', 'loss_con', 'loss_procls')))
    assert torch.allclose(losses['loss_procls_student'], plain, rtol=1e-6)


def test_augmented_paths_share_the_students_rois(teacher_ckpt, batch):
    """Rows of RoIs off the replaced level are bitwise the plain student's; others differ."""
    model = build(teacher_ckpt)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    feats = model.student.extract_feat(data['inputs'])
    level = model.prototype_level
    augmented = model.feature_augmentation(feats[level], model.prototype_learning.prototypes)
    plain, (path,) = model.heads(feats, [augmented], data['data_samples'])
    extractor = model.student.roi_head.bbox_roi_extractor[0]
    assert len(plain.cls_scores) == len(path.cls_scores) == 3
    for y_stu, y_con in zip(plain.cls_scores, path.cls_scores):
        assert y_stu.shape == y_con.shape
    rois_on_level = None
    for stage, (y_stu, y_con) in enumerate(zip(plain.cls_scores, path.cls_scores)):
        differs = (y_stu != y_con).any(1)
        if stage == 0:
            rois_on_level = differs
        assert differs.any(), 'RoIs on the replaced level must see the augmented map'
        assert not differs.all(), 'RoIs on other levels must be the same rows as the student'
    assert extractor.finest_scale == 8 and rois_on_level.sum() > 0


def test_wproto_ablation_has_no_student_path(teacher_ckpt, batch):
    losses = losses_of(build(teacher_ckpt, augment_student=False), batch)
    assert 'loss_procls_teacher' in losses
    assert 'loss_con' not in losses and 'loss_procls_student' not in losses


def test_lambda_pro_zero_is_the_feature_baseline(teacher_ckpt, batch):
    model = build(teacher_ckpt, lambda_pro=0.0)
    assert not hasattr(model, 'prototype_learning')
    losses = losses_of(model, batch)
    assert not any(k.startswith(('loss_con', 'loss_procls')) for k in losses)


def test_teacher_is_frozen_through_training(teacher_ckpt, batch):
    model = build(teacher_ckpt)
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    model.train()
    assert not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for _ in range(2):
        losses = losses_of(model, batch)
        optimizer.zero_grad()
        sum(total(v) for k, v in losses.items() if 'loss' in k).backward()
        optimizer.step()
    after = model.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.training for m in model.teacher.modules())


def test_channel_mismatch_is_a_build_error(teacher_ckpt):
    teacher = Config.fromfile(TEACHER).model
    teacher.neck.out_channels = 32
    with pytest.raises(InputError, match='student 64 channels, teacher 32 channels'):
        build(None, teacher=teacher, teacher_strict=False, emb_loss=None)


def test_missing_teacher_checkpoint_names_the_path(tmp_path):
    with pytest.raises(InputError, match=str(tmp_path / 'nope.pth')):
        build(str(tmp_path / 'nope.pth'))
    with pytest.raises(InputError, match='teacher_ckpt is not set'):
        build(None)


def test_mismatched_teacher_checkpoint_lists_keys(teacher_ckpt, tmp_path):
    state = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    state.pop('neck.fpn_convs.0.conv.weight')
    state['extra.weight'] = torch.zeros(1)
    state['rpn_head.rpn_conv.weight'] = torch.zeros(3, 3, 3, 3)
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    with pytest.raises(InputError) as err:
        build(str(bad))
    message = str(err.value)
    assert str(bad) in message and 'neck.fpn_convs.0.conv.weight' in message
    assert 'extra.weight' in message and 'rpn_head.rpn_conv.weight (3, 3, 3, 3)' in message
    model = build(str(bad), teacher_strict=False)  # the opt-out loads what fits
    assert torch.equal(model.teacher.state_dict()['neck.fpn_convs.1.conv.weight'],
                       state['neck.fpn_convs.1.conv.weight'])


def test_faster_rcnn_student_prototype_path(teacher_ckpt, batch):
    """The prototype path on mmdet's StandardRoIHead (the paper's same-task student)."""
    student = get_config('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py').model
    student.backbone.update(depth=18, init_cfg=None)
    student.neck.update(in_channels=[64, 128, 256, 512], out_channels=64)
    student.rpn_head.update(in_channels=64, feat_channels=64)
    student.roi_head.bbox_roi_extractor.update(out_channels=64, finest_scale=8)
    student.roi_head.bbox_head.update(in_channels=64, fc_out_channels=128, num_classes=4)
    student.train_cfg.rcnn.sampler.num = 64
    model = build(teacher_ckpt, architecture=student)
    losses = losses_of(model, batch)
    assert {'loss_cls', 'loss_bbox', 'loss_rpn_cls', 'loss_con', 'loss_procls_teacher',
            'loss_procls_student'} <= set(losses)
    assert all(torch.isfinite(total(v)).all() for k, v in losses.items() if 'loss' in k)
    assert losses['loss_con'] > 0
    assert reaches(losses['loss_procls_teacher'], [model.prototype_learning.prototypes])


def test_student_losses_equal_mmdets_own(teacher_ckpt, batch):
    """The plain path reproduces ``TwoStageDetector.loss`` exactly (same RNG, same values)."""
    model = build(teacher_ckpt, emb_loss=None, lambda_pro=0.0)
    model.train()
    ours = losses_of(model, batch)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    theirs = model.student.loss(data['inputs'], data['data_samples'])
    assert set(ours) == set(theirs)
    for key in theirs:
        assert torch.allclose(total(ours[key]), total(theirs[key]), rtol=1e-5, atol=1e-6), key

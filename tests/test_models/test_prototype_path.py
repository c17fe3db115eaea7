"""The prototype path on the level-3 rows: gradients, empty batches, BN / GN heads, exact rows.

Every property is checked on two students: the tiny synthetic one with mmdet's
``Shared4Conv1FCBBoxHead`` + BatchNorm in all three cascade stages, and the paper's
Swin-T student (``configs/_base_/models/cascade-mask-rcnn_swin-t-p4-w7_fpn.py``: Swin-T,
4conv1fc heads with SyncBN, three cascade stages) at 128x256 with ``finest_scale``
scaled down with the image (56 / 8 = 7), so that sampled RoIs read FPN level 3.
"""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import procd_mm  # noqa: F401
from tests.conftest import REPO, TEACHER_TINY
from tests.test_models.test_procd_distiller import PROCD, losses_of, total, two_images

PAPER_STUDENT = f'{REPO}/configs/_base_/models/cascade-mask-rcnn_swin-t-p4-w7_fpn.py'
LEVEL = 3


def bn_heads(num_classes: int, channels: int, norm='BN'):
    norm_cfg = dict(type='BN') if norm == 'BN' else dict(type='GN', num_groups=8)
    return [dict(type='Shared4Conv1FCBBoxHead', in_channels=channels, conv_out_channels=channels,
                 fc_out_channels=128, roi_feat_size=7, num_classes=num_classes,
                 reg_class_agnostic=True, norm_cfg=norm_cfg,
                 bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                 target_stds=stds),
                 loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])]


def tiny_student(norm='BN'):
    student = copy.deepcopy(Config.fromfile(f'{REPO}/configs/synthetic/student_tiny.py').model)
    student.roi_head.bbox_head = bn_heads(4, 64, norm)
    return student, Config.fromfile(TEACHER_TINY).model


def paper_student():
    """The paper's Swin-T student, 4 classes, at 128x256 (finest_scale 56 / 8)."""
    student = copy.deepcopy(Config.fromfile(PAPER_STUDENT).model)
    student.backbone.init_cfg = None
    for head in student.roi_head.bbox_head:
        head.num_classes = 4
    student.roi_head.mask_head.num_classes = 4
    student.roi_head.bbox_roi_extractor.finest_scale = 7
    student.roi_head.mask_roi_extractor.finest_scale = 7
    for rcnn in student.train_cfg.rcnn:
        rcnn.sampler.num = 128
    student.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=200)
    teacher = copy.deepcopy(Config.fromfile(TEACHER_TINY).model)
    teacher.neck.out_channels = 256
    teacher.rpn_head.update(in_channels=256, feat_channels=256)
    return student, teacher


STUDENTS = {'tiny-bn': lambda: tiny_student('BN'), 'paper-swin-t': paper_student}


def build(student, teacher, **overrides):
    cfg = Config.fromfile(PROCD).model
    for key, value in dict(architecture=student, teacher=teacher, teacher_ckpt=None,
                           teacher_strict=False, **overrides).items():
        cfg[key] = value  # replace, not merge
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    return model


@pytest.fixture(scope='module')
def batch(synthetic_root):
    return two_images(synthetic_root)


@pytest.fixture(scope='module', params=list(STUDENTS))
def model(request):
    return build(*STUDENTS[request.param]())


def grad_norm(loss, params):
    grads = torch.autograd.grad(total(loss), list(params), retain_graph=True, allow_unused=True)
    return sum(float(g.abs().sum()) for g in grads if g is not None)


def bn_buffers(module):
    return {name: buf.clone() for name, buf in module.named_buffers()
            if any(k in name for k in ('running_', 'num_batches'))}


def test_heads_normalise_and_rois_reach_level_3(model, batch):
    norms = [m for m in model.student.roi_head.bbox_head.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 3 * 4  # 4 conv layers with BN in each of the 3 cascade stages
    losses_of(model, batch)
    assert len(model.prototype_branch.path.stages) == 3
    assert all(rows.on_level.numel() > 0 for rows in model.prototype_branch.path.stages)
    assert all(rows.on_level.numel() < rows.rois.shape[0]
               for rows in model.prototype_branch.path.stages)


def test_teacher_path_reaches_the_heads_only(model, batch):
    losses = losses_of(model, batch)
    student = model.student
    for key in ('loss_procls_teacher',):
        assert grad_norm(losses[key], student.backbone.parameters()) == 0
        assert grad_norm(losses[key], student.neck.parameters()) == 0
        assert grad_norm(losses[key], student.rpn_head.parameters()) == 0
        assert grad_norm(losses[key], student.roi_head.bbox_head.parameters()) > 0
        assert grad_norm(losses[key], model.prototype_branch.prototype_learning.parameters()) > 0
    # the student path reads the student's own P5: its backbone and neck learn from it
    assert grad_norm(losses['loss_procls_student'], student.neck.parameters()) > 0
    assert grad_norm(losses['loss_con'], student.backbone.parameters()) > 0
    assert grad_norm(losses['loss_con'],
                     model.prototype_branch.feature_augmentation.parameters()) == 0


def test_path_rows_equal_a_full_rerun_with_the_plain_statistics(model, batch):
    """Rows recomputed by the path == the head over the whole plain batch with those rows'
    RoI features swapped in, normalised with the plain batch's own statistics."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    with model.student_feats, model.prototype_branch.path.plain_pass():
        model.student.loss(data['inputs'], data['data_samples'])
    feats = model.student_feats.get_record_data()
    branch = model.prototype_branch
    new_level = branch.feature_augmentation(feats[LEVEL], branch.prototype_learning.prototypes)
    path = model.prototype_branch.path.logits(feats, new_level)
    roi_head = model.student.roi_head
    for rows, logits in zip(model.prototype_branch.path.stages, path.logits):
        extractor, head = roi_head.bbox_roi_extractor[rows.stage], roi_head.bbox_head[rows.stage]
        plain_feats = extractor(feats[:4], rows.rois)
        swapped = list(feats[:4])
        swapped[LEVEL] = new_level
        swapped_feats = plain_feats.index_copy(0, rows.on_level,
                                               extractor(swapped, rows.rois[rows.on_level]))
        expected_plain, expected = rerun_with_plain_statistics(head, plain_feats, swapped_feats)
        assert torch.allclose(expected_plain, rows.cls_score.detach(), atol=1e-4)
        assert torch.allclose(logits.detach(), expected[rows.on_level], rtol=1e-4, atol=1e-4)
        others = torch.ones(rows.rois.shape[0], dtype=torch.bool)
        others[rows.on_level] = False
        assert torch.allclose(expected[others], rows.cls_score.detach()[others], atol=1e-4)


def rerun_with_plain_statistics(head, plain_feats, swapped_feats):
    """Class logits of ``head`` on the plain batch (train mode) and on the swapped batch
    normalised with the plain batch's statistics, found without the code under test: a
    copy of the head with momentum 1 stores the plain batch's statistics as running ones."""
    reference = copy.deepcopy(head)
    norms = [m for m in reference.modules() if isinstance(m, _BatchNorm)]
    counts = {}
    hooks = [norm.register_forward_pre_hook(
        lambda m, args: counts.__setitem__(m, args[0].numel() / args[0].shape[1]))
        for norm in norms]
    for norm in norms:
        norm.momentum = 1.0
    with torch.no_grad():
        plain = reference(plain_feats)[0]
        for norm in norms:  # running_var holds the unbiased variance; normalising uses biased
            norm.running_var.mul_((counts[norm] - 1) / counts[norm])
        reference.eval()
        swapped = reference(swapped_feats)[0]
    for hook in hooks:
        hook.remove()
    return plain, swapped


def test_running_statistics_equal_the_plain_students_step(model, batch):
    """A ProC-KD step leaves every BN buffer of the student as its own plain step does."""
    before = bn_buffers(model.student)
    losses_of(model, batch)
    after_procd = bn_buffers(model.student)
    model.student.load_state_dict({**model.student.state_dict(), **before})
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    model.student.loss(data['inputs'], data['data_samples'])
    after_plain = bn_buffers(model.student)
    assert any(not torch.equal(before[k], after_plain[k]) for k in before)
    for key in after_plain:
        assert torch.equal(after_procd[key], after_plain[key]), key


def test_no_level_3_rows_gives_exact_zeros_and_backward_runs(batch):
    student, teacher = tiny_student('BN')
    student.roi_head.bbox_roi_extractor.finest_scale = 10_000  # every RoI reads level 0
    model = build(student, teacher)
    losses = losses_of(model, batch)
    assert all(rows.on_level.numel() == 0 for rows in model.prototype_branch.path.stages)
    for key in ('loss_procls_teacher', 'loss_procls_student', 'loss_con'):
        assert losses[key].item() == 0.0 and losses[key].requires_grad, key
    sum(total(v) for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is not None for p in model.prototype_branch.prototype_learning.parameters())
    assert all(p.grad is not None for p in model.prototype_branch.feature_augmentation.parameters())


def test_group_norm_heads_rows_equal_a_full_rerun(batch):
    model = build(*tiny_student('GN'))
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    with model.student_feats, model.prototype_branch.path.plain_pass():
        model.student.loss(data['inputs'], data['data_samples'])
    feats = model.student_feats.get_record_data()
    new_level = model.prototype_branch.prototype_learning(feats[LEVEL].detach() * 3)
    path = model.prototype_branch.path.logits(feats, new_level)
    for rows, logits in zip(model.prototype_branch.path.stages, path.logits):
        roi_head = model.student.roi_head
        extractor, head = roi_head.bbox_roi_extractor[rows.stage], roi_head.bbox_head[rows.stage]
        swapped = list(feats[:4])
        swapped[LEVEL] = new_level
        assert rows.on_level.numel() > 0
        with torch.no_grad():
            full = head(extractor(swapped, rows.rois))[0]
        assert torch.allclose(logits.detach(), full[rows.on_level], rtol=1e-4, atol=1e-5)


def test_replay_puts_each_layers_own_state_back_even_when_a_pass_fails():
    """Inside ``replay`` a layer normalises with the captured statistics as in eval mode;
    after it (also after a forward that raised inside the layer) its mode and its own
    running-statistic tensors are back, untouched."""
    import torch
    import torch.nn.functional as F

    from procd_mm.models.algorithms.plain_batch_statistics import PlainBatchStatistics
    torch.manual_seed(0)
    norm = torch.nn.BatchNorm2d(4).train()
    stats = PlainBatchStatistics(torch.nn.Sequential(norm))
    plain = torch.randn(6, 4, 3, 3)
    with stats.capture():
        norm(plain)
    running = (norm.running_mean, norm.running_var, norm.running_mean.clone(),
               norm.running_var.clone())
    rows = torch.randn(2, 4, 3, 3)
    var, mean = torch.var_mean(plain, [0, 2, 3], correction=0)
    with stats.replay():
        out = norm(rows)
        with pytest.raises(RuntimeError):
            norm(torch.randn(2, 5, 3, 3))  # another width: fails inside the layer
    torch.testing.assert_close(out, F.batch_norm(rows, mean, var, norm.weight, norm.bias,
                                                 False, 0., norm.eps))
    assert norm.training
    assert norm.running_mean is running[0] and norm.running_var is running[1]
    assert torch.equal(norm.running_mean, running[2]) and torch.equal(norm.running_var,
                                                                      running[3])

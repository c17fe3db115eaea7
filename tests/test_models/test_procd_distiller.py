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
from procd_mm.utils import InputError
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
    return two_images(synthetic_root)


def two_images(synthetic_root, scale=None, with_mask=True):
    """The first two training images of the synthetic data, unflipped, as one batch;
    resized to ``scale`` (w, h) instead of the config's, without masks unless
    ``with_mask``."""
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    ds_cfg = copy.deepcopy(Config.fromfile(PROCD).train_dataloader.dataset)
    ds_cfg.data_root = synthetic_root
    pipeline = [p for p in ds_cfg.pipeline if p['type'] != 'RandomFlip']
    for step in pipeline:
        if step['type'] == 'LoadAnnotations':
            step['with_mask'] = with_mask
        if step['type'] == 'Resize' and scale is not None:
            step['scale'] = scale
    ds_cfg.pipeline = pipeline
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
    protos = [model.prototype_branch.prototype_learning.prototypes]
    proto_module = [p for n, p in model.prototype_branch.prototype_learning.named_parameters()
                    if n != 'prototypes']
    augment = list(model.prototype_branch.feature_augmentation.parameters())
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
    model = build(teacher_ckpt, con_loss=dict(type='RoIConsistencyLoss', detach_target=False))
    losses = losses_of(model, batch)
    assert reaches(losses['loss_con'],
                   list(model.prototype_branch.feature_augmentation.parameters()))


class IdentityAugmentation(torch.nn.Module):
    def forward(self, x, prototypes):
        return x


def test_procls_is_the_cross_entropy_of_the_level_rows(teacher_ckpt, batch):
    """With an identity augmentation the student path reproduces the plain rows: L_con is 0
    (up to float summation order: the path re-runs the extractor on a subset) and L_procls
    is the stage-weighted mean cross-entropy of the plain logits on those rows."""
    model = build(teacher_ckpt)
    model.prototype_branch.feature_augmentation = IdentityAugmentation()
    losses = losses_of(model, batch)
    assert abs(losses['loss_con'].item()) < 1e-6
    expected = 0.
    for rows, weight in zip(model.prototype_branch.path.stages,
                            model.student.roi_head.stage_loss_weights):
        assert 0 < rows.on_level.numel() < rows.rois.shape[0]
        expected += weight * torch.nn.functional.cross_entropy(
            rows.cls_score[rows.on_level], rows.labels[rows.on_level])
    assert torch.allclose(losses['loss_procls_student'], expected, rtol=1e-6)
    plain = sum(total(v) for k, v in losses.items() if k.startswith('s') and 'loss_cls' in k)
    assert not torch.allclose(losses['loss_procls_student'], plain)


def test_wproto_ablation_feeds_the_prototype_module_alone(teacher_ckpt, batch):
    model = build(teacher_ckpt, feature_augmentation=None)
    branch = model.prototype_branch
    assert branch.feature_augmentation is None and branch.con_loss is None
    losses = losses_of(model, batch)
    assert 'loss_con' not in losses and 'loss_procls_student' not in losses
    assert reaches(losses['loss_procls_teacher'],
                   [p for n, p in model.prototype_branch.prototype_learning.named_parameters()])


@pytest.mark.parametrize('key,value', [('lambda_stu', -1), ('lambda_pro', -0.5),
                                       ('lambda_emb', float('nan')), ('lambda_emb', '1')])
def test_negative_lambda_is_refused(teacher_ckpt, key, value):
    with pytest.raises(InputError, match=f'{key} must be a number >= 0'):
        build(teacher_ckpt, **{key: value})


@pytest.mark.parametrize('level', [-1, 5, 1.5])
def test_prototype_level_outside_the_neck_is_refused(teacher_ckpt, level):
    with pytest.raises(InputError, match=rf'prototype_level={level} must be an index .* \[0, 5\)'):
        build(teacher_ckpt, prototype_level=level)


def test_lambda_pro_zero_is_the_feature_baseline(teacher_ckpt, batch):
    model = build(teacher_ckpt, lambda_pro=0.0)
    assert model.prototype_branch is None
    losses = losses_of(model, batch)
    assert not any(k.startswith(('loss_con', 'loss_procls')) for k in losses)


def test_the_branch_is_whole_and_older_checkpoints_load_into_it(teacher_ckpt, tmp_path):
    """The prototype modules, L_con and the path are one module; a checkpoint written when
    they were the distiller's own attributes (``prototype_learning.*``, ...) loads strictly."""
    from mmengine.runner import load_checkpoint
    model = build(teacher_ckpt)
    branch = model.prototype_branch
    assert {name for name, _ in branch.named_children()} == {
        'prototype_learning', 'feature_augmentation', 'con_loss'}  # same widths: no projection
    assert branch.level == branch.path.level == 3 and branch.teacher_level == 3
    state = model.state_dict()
    older = {k.replace('prototype_branch.', '', 1): v.clone() + 1.0
             if k.startswith('prototype_branch.') and v.is_floating_point() else v
             for k, v in state.items()}
    assert not any(k.startswith('prototype_branch.') for k in older)
    torch.save({'state_dict': older, 'meta': {}}, tmp_path / 'older.pth')
    fresh = build(teacher_ckpt)
    load_checkpoint(fresh, str(tmp_path / 'older.pth'), strict=True, logger='silent')
    torch.testing.assert_close(fresh.prototype_branch.prototype_learning.prototypes,
                               older['prototype_learning.prototypes'])
    assert not torch.equal(fresh.prototype_branch.prototype_learning.prototypes,
                           branch.prototype_learning.prototypes)


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


def test_a_narrower_teacher_gets_prototypes_at_its_width_and_a_projection(batch):
    """Teacher FPN 32 wide, student 64 (SPEC §3.6): the prototype module works at 32, a 1x1
    projection maps O_pro to 64 for the student's heads, the augmentation takes 64-wide maps
    and 32-wide prototypes; CWD maps the student with its connectors; none of it is in the
    student (export drops it)."""
    teacher = Config.fromfile(TEACHER).model
    teacher.neck.out_channels = 32
    teacher.rpn_head.update(in_channels=32, feat_channels=32)
    cwd = dict(type='CWDEmbeddingLoss', loss_weights=1.0, use_connector=True,
               student_channels=64, teacher_channels=32)
    model = build(None, teacher=teacher, teacher_strict=False, emb_loss=cwd)
    assert model.prototype_branch.prototype_learning.prototypes.shape[1] == 32
    assert tuple(model.prototype_branch.teacher_projection.weight.shape) == (64, 32, 1, 1)
    assert model.prototype_branch.feature_augmentation.enc_p.in_features == 32
    losses = losses_of(model, batch)
    assert all(torch.isfinite(total(v)).all() for k, v in losses.items() if 'loss' in k)
    teacher_path = losses['loss_procls_teacher']
    assert reaches(teacher_path, list(model.prototype_branch.teacher_projection.parameters()))
    assert reaches(teacher_path, [model.prototype_branch.prototype_learning.prototypes])
    assert not reaches(teacher_path, list(model.student.backbone.parameters()))
    assert reaches(losses['loss_emb_cwd_p0'], list(model.emb_loss.connectors.parameters()))
    from procd_mm.models.algorithms.export import student_state_dict
    exported = student_state_dict({'state_dict': model.state_dict()})
    assert 'prototype_branch.teacher_projection.weight' in model.state_dict()
    assert set(exported) == set(model.student.state_dict())
    with pytest.raises(InputError, match='student FPN width 64 != teacher FPN width 32'):
        build(None, teacher=teacher, teacher_strict=False,
              emb_loss=dict(type='CWDEmbeddingLoss'))


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
    assert reaches(losses['loss_procls_teacher'],
                   [model.prototype_branch.prototype_learning.prototypes])


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


def test_cfg_path_overrides_merge_into_the_student(teacher_ckpt):
    """Keys beside ``cfg_path`` merge into the model read from the file (``--cfg-options
    model.architecture.roi_head...`` reaches the student of a paper row)."""
    model = build(teacher_ckpt, architecture=dict(
        cfg_path='configs/synthetic/student_tiny.py',
        roi_head=dict(bbox_roi_extractor=dict(finest_scale=28))))
    extractor = model.student.roi_head.bbox_roi_extractor[0]
    assert extractor.finest_scale == 28 and extractor.out_channels == 64
    assert model.student.roi_head.bbox_head[0].num_classes == 4


def test_cfg_path_pretrained_takes_the_metafile_checkpoint():
    """``pretrained=True`` as in mmrazor: the checkpoint mmdet's metafile lists for the config."""
    from procd_mm.models.algorithms.model_cfg import pretrained_checkpoint, resolve_model_cfg
    path = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
    model = resolve_model_cfg(dict(cfg_path=path, pretrained=True))
    expected = get_config(path, pretrained=True).model_path
    assert expected.endswith('.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint=expected)
    assert pretrained_checkpoint(model) == expected
    assert pretrained_checkpoint(resolve_model_cfg(dict(cfg_path=path))) == ''
    with pytest.raises(InputError, match='only configs of installed packages'):
        resolve_model_cfg(dict(cfg_path='configs/synthetic/student_tiny.py', pretrained=True))

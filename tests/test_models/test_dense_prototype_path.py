"""The prototype path of dense (one-stage) students, SPEC §3.5: RetinaNet, FCOS, ATSS, GFL and
RTMDet (``RTMDetSepBNHead``: shared convs, per-level SyncBN) from mmdet's own configs, with
small widths, on the synthetic 128x256 images, taught by the tiny Cascade teacher (P2-P6):
the student's stride-32 level (index 2 of P3-P7 and of P3-P5) reads the teacher's index 3.
"""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import procd_mm  # noqa: F401
from procd_mm.models.algorithms.dense_prototype_path import level_cls_score
from procd_mm.utils import InputError
from tests.conftest import REPO, TEACHER_TINY
from tests.test_models.test_procd_distiller import PROCD, losses_of, reaches, two_images

WIDTH = 64
#: the tiny RetinaNet's Swin backbone (embed 32, depths 1-1-2-1, outputs at strides 8-32)
SWIN = Config.fromfile(
    f'{REPO}/configs/_base_/models/retinanet_swin-tiny_fpn_synthetic.py').model.backbone
FPN_HEADS = {
    'retinanet': 'retinanet/retinanet_r50_fpn_1x_coco.py',
    'fcos': 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'atss': 'atss/atss_r50_fpn_1x_coco.py',
    'gfl': 'gfl/gfl_r50_fpn_1x_coco.py',
}
HEADS = [*FPN_HEADS, 'rtmdet']


def dense_student(kind: str):
    """mmdet's own detector config of ``kind`` with a small backbone and width 64, 4 classes."""
    if kind == 'rtmdet':
        model = copy.deepcopy(get_config('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py').model)
        model.backbone.init_cfg = None
        model.neck.out_channels = WIDTH
        model.bbox_head.update(in_channels=WIDTH, feat_channels=WIDTH, num_classes=4)
        return model
    model = copy.deepcopy(get_config(f'mmdet::{FPN_HEADS[kind]}').model)
    model.backbone = dict(SWIN)
    model.neck.update(in_channels=[64, 128, 256], out_channels=WIDTH, start_level=0)
    model.bbox_head.update(in_channels=WIDTH, feat_channels=WIDTH, stacked_convs=2,
                           num_classes=4)
    # priors scaled down with the image (128x256 instead of 800x1333, as finest_scale is for
    # the R-CNN students), so that objects are assigned to the stride-32 level too
    if kind == 'fcos':
        model.bbox_head.regress_ranges = ((-1, 8), (8, 16), (16, 32), (32, 64), (64, 1e8))
    else:
        model.bbox_head.anchor_generator.octave_base_scale = 1
    return model


def build(kind: str, **overrides):
    cfg = Config.fromfile(PROCD).model
    settings = dict(architecture=dense_student(kind), teacher=Config.fromfile(TEACHER_TINY).model,
                    teacher_ckpt=None, teacher_strict=False, emb_loss=None, prototype_level=None,
                    con_loss=dict(type='DenseConsistencyLoss'))
    for key, value in dict(settings, **overrides).items():
        cfg[key] = value
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    return model


def box_batch(synthetic_root, scale):
    """The first two synthetic training images at ``scale`` (w, h), unflipped, boxes only (a
    box detector's data: RTMDet's assigner would take instance masks for RTMDet-Ins)."""
    return two_images(synthetic_root, scale, with_mask=False)


@pytest.fixture(scope='module')
def batches(synthetic_root):
    # RTMDet's priors are points and only points inside a box are its candidates: at 256x128
    # (and at 512x256) no stride-32 point is assigned, so its images are drawn at 1024x512,
    # where objects are up to 212 px wide as in Cityscapes
    small, large = box_batch(synthetic_root, (256, 128)), box_batch(synthetic_root, (1024, 512))
    return {kind: large if kind == 'rtmdet' else small for kind in HEADS}


@pytest.fixture(scope='module')
def batch(batches):
    return batches['retinanet']


@pytest.fixture(scope='module', params=HEADS)
def stepped(request, batches):
    """(kind, model, losses, student neck outputs) after one distillation loss pass."""
    model = build(request.param)
    batch = batches[request.param]
    losses = losses_of(model, batch)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    return request.param, model, losses, data


def test_stride_32_level_is_matched_to_the_teachers(stepped):
    kind, model, losses, _ = stepped
    assert (model.prototype_branch.level, model.prototype_branch.teacher_level) == (2, 3)
    for key in ('loss_procls_teacher', 'loss_procls_student', 'loss_con'):
        assert key in losses and torch.isfinite(losses[key]), key


@pytest.mark.parametrize('kind', HEADS)
def test_level_branch_equals_the_levels_slice_of_a_full_head_forward(kind, batches):
    model = build(kind)
    batch = batches[kind]
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    with torch.no_grad():
        feats = list(model.student.extract_feat(data['inputs']))
        level = model.prototype_branch.level
        torch.manual_seed(3)
        feats[level] = torch.randn_like(feats[level])
        full = model.student.bbox_head(tuple(feats))[0][level]
        alone = level_cls_score(model.student.bbox_head, level, feats[level])
    assert alone.shape == full.shape
    torch.testing.assert_close(alone, full, rtol=1e-5, atol=1e-5)


def test_plain_map_through_the_path_gives_the_plain_scores(stepped):
    """In train mode, with the plain pass's statistics: the path on the student's own level
    map reproduces the scores mmdet's loss saw, row for row (the recorded order is right)."""
    kind, model, _, data = stepped
    feats = model.student_feats.get_record_data()
    path = model.prototype_branch.path
    logits = path.logits(feats, feats[model.prototype_branch.level])
    torch.testing.assert_close(logits.logits, path.priors.cls_score, rtol=1e-4, atol=1e-5)
    assert logits.logits.shape[0] == feats[2].shape[0] * feats[2].shape[2] * feats[2].shape[3] \
        * path._priors_per_position()


def test_procls_counts_the_levels_priors_only(stepped):
    kind, model, _, _ = stepped
    path = model.prototype_branch.path
    feats = model.student_feats.get_record_data()
    torch.manual_seed(5)
    logits = path.logits(feats, torch.randn_like(feats[model.prototype_branch.level]))
    before = path.cls_loss(logits)
    assert before > 0
    # corrupt every target that is not the level's: the loss must not change by a bit
    calls = path.calls
    for i, (args, kwargs) in enumerate(calls):
        target = args[1] if len(args) > 1 else kwargs['target']
        labels = target[0] if isinstance(target, tuple) else target
        if len(calls) == 1:  # FCOS: everything outside the level's slice
            mask = torch.ones_like(labels, dtype=torch.bool)
            start = sum(f.shape[0] * f.shape[2] * f.shape[3] for f in feats[:2])
            mask[start:start + logits.logits.shape[0]] = False
            labels[mask] = 0
        elif i != model.prototype_branch.level:
            labels.fill_(0)
    path.priors = None
    assert torch.equal(path.cls_loss(path.logits(feats, logits.new_level)), before)


def test_procls_is_the_heads_loss_on_the_level_with_its_own_normaliser(batch):
    model = build('retinanet')
    losses_of(model, batch)
    feats = model.student_feats.get_record_data()
    path = model.prototype_branch.path
    args, kwargs = path.calls[2]
    labels, weights = args[1], args[2]
    positives = int(((labels >= 0) & (labels < 4)).sum())
    assert positives > 0 and kwargs['avg_factor'] > positives  # mmdet's counts all levels
    logits = path.logits(feats, feats[2] * 1.5)
    expected = model.student.bbox_head.loss_cls(logits.logits, labels, weights,
                                                avg_factor=positives)
    torch.testing.assert_close(path.cls_loss(logits), expected)


def test_no_positive_on_the_level_gives_zero_with_the_graph(stepped):
    kind, model, _, _ = stepped
    path = model.prototype_branch.path
    feats = model.student_feats.get_record_data()
    path.priors = None
    logits = path.logits(feats, feats[model.prototype_branch.level].detach().requires_grad_())
    labels = path.priors.target[0] if isinstance(path.priors.target, tuple) \
        else path.priors.target
    labels.fill_(model.student.bbox_head.num_classes)  # background everywhere
    loss = path.cls_loss(logits)
    assert loss.item() == 0.
    loss.backward()
    assert logits.new_level.grad is not None and logits.new_level.grad.abs().sum() == 0


def test_rtmdet_teacher_path_reaches_the_modules_and_head_never_backbone_or_neck(batches):
    model = build('rtmdet')
    losses = losses_of(model, batches['rtmdet'])
    student = model.student
    teacher_path = losses['loss_procls_teacher']
    assert reaches(teacher_path, [model.prototype_branch.prototype_learning.prototypes])
    assert reaches(teacher_path, [p for n, p in
                                  model.prototype_branch.prototype_learning.named_parameters()
                                  if n != 'prototypes'])
    assert reaches(teacher_path, list(model.prototype_branch.feature_augmentation.parameters()))
    assert reaches(teacher_path, list(student.bbox_head.cls_convs[2].parameters()))
    assert not reaches(teacher_path, list(student.backbone.parameters()))
    assert not reaches(teacher_path, list(student.neck.parameters()))
    # the level's own per-level BN is reached, other levels' not
    assert not reaches(teacher_path, [p for m in student.bbox_head.cls_convs[0].modules()
                                      if isinstance(m, _BatchNorm) for p in m.parameters()])
    assert reaches(losses['loss_con'], list(student.backbone.parameters()))
    assert not reaches(losses['loss_con'],
                       list(model.prototype_branch.feature_augmentation.parameters()))


def test_rtmdet_running_statistics_equal_the_plain_students_step(batches):
    batch = batches['rtmdet']
    model = build('rtmdet')
    plain = copy.deepcopy(model.student)
    losses_of(model, batch)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    plain.loss(data['inputs'], data['data_samples'])
    ours = {n: b for n, b in model.student.bbox_head.named_buffers() if 'running' in n}
    theirs = dict(plain.bbox_head.named_buffers())
    assert ours and all(torch.equal(b, theirs[n]) for n, b in ours.items())


def test_a_student_level_without_a_teacher_level_of_its_stride_is_one_line():
    with pytest.raises(InputError, match=r'student level 4 \(stride 128\) has no teacher level '
                                         r'of that stride; student strides \[8, 16, 32, 64, 128\]'
                                         r', teacher strides \[4, 8, 16, 32, 64\]'):
        build('retinanet', prototype_level=4)


def test_the_roi_consistency_loss_on_a_dense_student_is_refused():
    with pytest.raises(InputError, match='RoIConsistencyLoss does not fit a dense student'):
        build('retinanet', con_loss=dict(type='RoIConsistencyLoss'))



def test_cwd_pairs_levels_by_stride_not_by_index(batches):
    """RetinaNet (P3-P7) under the Cascade teacher (P2-P6): student level i reads the teacher
    level of its stride (index i + 1); a level without one is one error line."""
    from mmrazor.models.losses import ChannelWiseDivergence
    cwd = dict(type='CWDEmbeddingLoss', tau=1.0, loss_weights=1.0, levels=(0, 1, 2, 3))
    model = build('retinanet', emb_loss=cwd)
    assert model.level_map == [1, 2, 3, 4, None]
    losses = losses_of(model, batches['retinanet'])
    data = model.data_preprocessor(copy.deepcopy(batches['retinanet']), True)
    with torch.no_grad():
        teacher = model.teacher.extract_feat(data['inputs'])
    student = model.student_feats.get_record_data()
    for level in range(4):
        expected = ChannelWiseDivergence(tau=1.0, loss_weight=1.0)(student[level],
                                                                    teacher[level + 1])
        torch.testing.assert_close(losses[f'loss_emb_cwd_p{level}'], expected)
    with pytest.raises(InputError, match=r'CWDEmbeddingLoss reads student level 4 \(stride '
                                         r'128\), which has no teacher level of that stride'):
        build('retinanet', emb_loss=dict(cwd, levels=(0, 1, 2, 3, 4)))


@pytest.mark.parametrize('kind', ['rtmdet', 'retinanet'])
def test_export_is_a_plain_mmdet_checkpoint_that_predicts_the_same(kind, batches, tmp_path):
    """The exported student loads strictly into mmdet's own detector built from the student
    config (no prototype, augmentation, projection or connector weights) and predicts exactly
    what the student inside the distiller predicts."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.runner import load_checkpoint

    from procd_mm.models.algorithms.export import export_student
    model = build(kind, emb_loss=dict(type='CWDEmbeddingLoss', loss_weights=1.0, levels=(0, 1, 2)))
    losses_of(model, batches[kind])  # one step's worth of state (BN statistics)
    src, dst = tmp_path / 'distiller.pth', tmp_path / 'student.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, src)
    export_student(str(src), str(dst))
    init_default_scope('mmdet')
    plain = DET_MODELS.build(dense_student(kind))
    load_checkpoint(plain, str(dst), strict=True)
    model.eval()
    plain.eval()
    data = plain.data_preprocessor(copy.deepcopy(batches[kind]), False)
    with torch.no_grad():
        ours = model.student.predict(data['inputs'], copy.deepcopy(data['data_samples']))
        theirs = plain.predict(data['inputs'], copy.deepcopy(data['data_samples']))
    assert sum(len(a.pred_instances) for a in ours) > 0
    for a, b in zip(ours, theirs):
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.equal(a.pred_instances.scores, b.pred_instances.scores)


def test_fbod_and_an_mmrazor_loss_work_across_the_retinanet_cascade_pair(batches):
    """FBOD reads the stride-matched teacher levels as CWD does; a ConfigurableEmbeddingLoss
    names the teacher's record of the same stride itself (student P5 = index 2, teacher
    index 3) and trains its connector."""
    # the non-local pooling strides of P2-P5 (8, 4, 2, 2), one level up for P3-P6
    fbod = dict(type='FBODEmbeddingLoss', in_channels=WIDTH, levels=(0, 1, 2, 3),
                maxpool_strides=(4, 2, 1, 1))
    model = build('retinanet', emb_loss=fbod)
    losses = losses_of(model, batches['retinanet'])
    fbod_terms = [v for k, v in losses.items() if k.startswith('loss_emb_fbod')]
    assert fbod_terms and all(torch.isfinite(v) for v in fbod_terms)
    assert reaches(sum(fbod_terms), list(model.student.neck.parameters()))

    pkd = dict(
        type='ConfigurableEmbeddingLoss',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        connectors=dict(p5=dict(type='ConvModuleConnector', in_channel=WIDTH,
                                out_channel=WIDTH, norm_cfg=None, act_cfg=None)),
        distill_losses=dict(loss_pkd_p5=dict(type='PKDLoss', loss_weight=1.0)),
        loss_forward_mappings=dict(loss_pkd_p5=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=2, connector='p5'),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=3))))
    model = build('retinanet', emb_loss=pkd)
    losses = losses_of(model, batches['retinanet'])
    assert torch.isfinite(losses['loss_emb_pkd_p5']) and losses['loss_emb_pkd_p5'] > 0
    assert reaches(losses['loss_emb_pkd_p5'], list(model.emb_loss.parameters()))


def test_rtmdet_of_another_width_reads_the_teacher_through_connectors(batch):
    """configs/synthetic/procd-rtmdet_tiny.py: RTMDet-tiny (P3-P5, 96) under the Cascade
    teacher (P2-P6, 64). Level i reads the teacher's level i + 1 through its 1x1 connector
    (96 -> 64); the prototype path's level is the stride-32 one, O_pro projected 64 -> 96."""
    from mmrazor.models.losses import ChannelWiseDivergence
    cfg = Config.fromfile(f'{REPO}/configs/synthetic/procd-rtmdet_tiny.py').model
    cfg.update(teacher_ckpt=None, teacher_strict=False)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    assert model.student_levels == [(8, 96), (16, 96), (32, 96)]
    assert model.level_map == [1, 2, 3]
    assert (model.prototype_branch.level, model.prototype_branch.teacher_level) == (2, 3)
    projection = model.prototype_branch.teacher_projection
    assert (projection.in_channels, projection.out_channels) == (64, 96)
    assert model.prototype_branch.prototype_learning.in_channels == 64
    losses = losses_of(model, batch)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    with torch.no_grad():
        teacher = model.teacher.extract_feat(model.teacher_input(data['inputs'],
                                                                 data['data_samples']))
    student = model.student_feats.get_record_data()
    for level in range(3):
        connector = model.emb_loss.connectors[str(level)]
        assert (connector.in_channels, connector.out_channels) == (96, 64)
        expected = ChannelWiseDivergence(tau=1.0, loss_weight=0.2)(connector(student[level]),
                                                                    teacher[level + 1])
        torch.testing.assert_close(losses[f'loss_emb_cwd_p{level}'], expected)

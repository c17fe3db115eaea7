"""Four fidelity repairs of the prototype path: float32 level mapping, norm layers the path
cannot replay, batch padding kept out of Eq. 1, and the teacher's own normalisation."""
import copy
import math

import pytest
import torch
import torch.distributed as dist
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.structures import DetDataSample

import procd_mm  # noqa: F401
from procd_mm.models import PrototypeLearning
from procd_mm.models.algorithms.padding import valid_positions
from procd_mm.models.algorithms.teacher_input import TeacherInput
from procd_mm.utils import InputError
from tests.test_models.test_procd_distiller import losses_of
from tests.test_models.test_prototype_path import build, tiny_student

SWIN_RGB = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                pad_size_divisor=32)
RTMDET_BGR = dict(mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395],
                  bgr_to_rgb=False, pad_size_divisor=32)


# ------------------------------------------------------------ float32 level mapping


def log_uniform_rois(count=400, low=16., high=1024.):
    torch.manual_seed(0)
    side = torch.exp(torch.empty(count).uniform_(math.log(low), math.log(high)))
    x0 = torch.rand(count) * 500
    return torch.stack([torch.zeros(count), x0, x0, x0 + side, x0 + side], dim=1)


def test_fp16_rois_map_to_the_float32_levels():
    extractor = SingleRoIExtractor(dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                                   out_channels=8, featmap_strides=[4, 8, 16, 32])
    rois = log_uniform_rois()
    half = rois.half()
    side = ((half[:, 3] - half[:, 1]).double() * (half[:, 4] - half[:, 2]).double()).sqrt()
    expected = torch.floor(torch.log2(side / 56 + 1e-6)).clamp(0, 3).long()
    # the sizes exercise the fault: mmdet's own arithmetic in fp16 overflows above 256
    overflowing = ((half[:, 3] - half[:, 1]) * (half[:, 4] - half[:, 2])).isinf()
    assert overflowing.any() and (expected[overflowing] < 3).any()
    assert torch.equal(extractor.map_roi_levels(half, 4), expected)
    assert torch.equal(extractor.map_roi_levels(rois, 4),
                       torch.floor(torch.log2(torch.sqrt(
                           (rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])) / 56 + 1e-6))
                       .clamp(0, 3).long())


def test_path_maps_the_rows_as_the_extractor_did_on_fp16_features():
    model = build(*tiny_student())
    path = model.prototype_branch.path
    extractor = model.student.roi_head.bbox_roi_extractor[0]
    extractor.finest_scale = 56
    rois = log_uniform_rois()
    head = model.student.roi_head.bbox_head[0]
    labels = torch.zeros(len(rois), dtype=torch.long)
    results = dict(rois=rois, cls_score=torch.zeros(len(rois), head.num_classes + 1),
                   bbox_feats=torch.zeros(len(rois), 1, dtype=torch.half),
                   bbox_targets=(labels, torch.ones(len(rois)), None, None))
    path.stages = []
    path._record(None, results)
    read_p5 = extractor.map_roi_levels(rois.half(), 4) == path.level
    assert torch.equal(path.stages[0].on_level, read_p5.nonzero().squeeze(1))
    assert 0 < read_p5.sum() < len(rois)


# ------------------------------------------------------------ norm layers refused


def test_mmcv_sync_bn_in_the_heads_is_refused_at_build(tmp_path):
    student, teacher = tiny_student()
    for head in student.roi_head.bbox_head:
        head.norm_cfg = dict(type='MMSyncBN')
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    try:
        with pytest.raises(InputError, match=r'roi_head\.bbox_head\.0\.\S+ is '
                                             r'mmcv\.ops\.sync_bn\.SyncBatchNorm'):
            build(student, teacher)
    finally:
        dist.destroy_process_group()


def test_bn_and_group_norm_heads_are_accepted():
    for norm in ('BN', 'GN'):
        student, teacher = tiny_student(norm)
        assert build(student, teacher).prototype_branch.path is not None


def test_instance_norm_with_running_statistics_is_refused():
    from procd_mm.models.algorithms.plain_batch_statistics import PlainBatchStatistics
    heads = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1),
                                torch.nn.InstanceNorm2d(4, track_running_stats=True))
    with pytest.raises(InputError, match=r'heads\.1 is torch\.nn\.modules\.instancenorm'):
        PlainBatchStatistics(heads, 'heads')
    PlainBatchStatistics(torch.nn.Sequential(torch.nn.InstanceNorm2d(4)), 'heads')


# ------------------------------------------------------------ padding out of Eq. 1


def test_an_images_o_pro_does_not_depend_on_its_batch_partner():
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=16, num_prototypes=8).eval()
    alone = torch.randn(1, 16, 4, 6)
    partner = torch.randn(1, 16, 6, 8)
    batch = torch.randn(2, 16, 6, 8) * 3  # padding holds arbitrary values
    batch[0, :, :4, :6] = alone[0]
    batch[1] = partner[0]
    valid = torch.zeros(2, 6, 8, dtype=torch.bool)
    valid[0, :4, :6] = True
    valid[1] = True
    with torch.no_grad():
        by_itself = module(alone)
        batched = module(batch, valid)
        unmasked = module(batch)
    torch.testing.assert_close(batched[0, :, :4, :6], by_itself[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched[1:], module(partner), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(unmasked[0, :, :4, :6], by_itself[0], rtol=1e-3, atol=1e-4)
    assignment = module.assign(batch, valid).view(2, 8, 6, 8)
    assert assignment[0, :, 4:].abs().sum() == 0 and assignment[0, :, :, 6:].abs().sum() == 0


def test_valid_positions_follow_img_shape_at_the_level_stride():
    samples = [DetDataSample(metainfo=dict(img_shape=(800, 1600))),
               DetDataSample(metainfo=dict(img_shape=(1024, 2048))),
               DetDataSample(metainfo=dict(img_shape=(70, 100)))]
    valid = valid_positions(samples, (1024, 2048), (32, 64), 'cpu')
    assert valid.shape == (3, 32, 64)
    assert valid[0].sum() == 25 * 50 and valid[0, :25, :50].all()  # 800 / 32, 1600 / 32
    assert valid[1].all()
    assert valid[2].sum() == 3 * 4 and valid[2, :3, :4].all()  # ceil(70 / 32), ceil(100 / 32)


# ------------------------------------------------------------ the teacher's own input


def raw_batch(sizes=((96, 160), (128, 224)), seed=0):
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for h, w in sizes]
    samples = [DetDataSample(metainfo=dict(img_shape=(h, w))) for h, w in sizes]
    return dict(inputs=images, data_samples=samples)


@pytest.mark.parametrize('teacher_divisor', [32, 64])
def test_rgb_teacher_under_bgr_student_gets_its_own_preprocessors_tensor(teacher_divisor):
    student = DetDataPreprocessor(**RTMDET_BGR)
    teacher = DetDataPreprocessor(**dict(SWIN_RGB, pad_size_divisor=teacher_divisor))
    data = raw_batch()
    x_s = student(copy.deepcopy(data), False)
    converted = TeacherInput(student, teacher)(x_s['inputs'], x_s['data_samples'])
    own = teacher(copy.deepcopy(data), False)['inputs']
    assert converted.shape == own.shape
    torch.testing.assert_close(converted, own, rtol=0, atol=1e-4)
    assert not torch.allclose(x_s['inputs'], own[..., :x_s['inputs'].shape[-1]], atol=1e-2)


def test_equal_normalisations_pass_the_batch_through_untouched():
    student, teacher = DetDataPreprocessor(**SWIN_RGB), DetDataPreprocessor(**SWIN_RGB)
    convert = TeacherInput(student, teacher)
    x = student(raw_batch(), False)
    assert convert.identity and convert(x['inputs'], x['data_samples']) is x['inputs']


def test_a_preprocessor_that_is_not_a_channel_normalisation_is_one_error_line():
    class Gray(DetDataPreprocessor):
        def forward(self, data, training=False):
            out = super().forward(data, training)
            out['inputs'] = out['inputs'].mean(dim=1, keepdim=True).expand_as(out['inputs'])
            return out

    with pytest.raises(InputError, match='teacher data_preprocessor .Gray. is not a per-channel'):
        TeacherInput(DetDataPreprocessor(**SWIN_RGB), Gray(**SWIN_RGB))


def test_the_distillers_teacher_sees_its_own_normalisation(synthetic_root):
    from tests.test_models.test_procd_distiller import two_images
    student, teacher = tiny_student()
    teacher = copy.deepcopy(teacher)
    teacher.data_preprocessor = dict(type='DetDataPreprocessor', **RTMDET_BGR)
    model = build(student, teacher)
    seen = []
    model.teacher.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    batch = two_images(synthetic_root)
    losses_of(model, batch)
    own = model.teacher.data_preprocessor(copy.deepcopy(batch), True)['inputs']
    assert len(seen) == 1 and seen[0].shape == own.shape
    torch.testing.assert_close(seen[0], own, rtol=0, atol=1e-4)
    student_batch = model.data_preprocessor(copy.deepcopy(batch), True)['inputs']
    assert not torch.allclose(student_batch, own, atol=1e-2)


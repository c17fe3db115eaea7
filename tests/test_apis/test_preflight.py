"""procd_mm/apis/preflight.py: the head widths checked on the built model, before any write."""
import copy

import pytest
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import procd_mm  # noqa: F401
from procd_mm.apis.preflight import check_head_widths
from procd_mm.utils import InputError
from tests.conftest import REPO

STUDENT = f'{REPO}/configs/synthetic/student_tiny.py'


@pytest.fixture(scope='module')
def student_cfg():
    init_default_scope('mmdet')
    return Config.fromfile(STUDENT).model


def test_the_cascade_student_as_configured_passes(student_cfg):
    check_head_widths(MODELS.build(copy.deepcopy(student_cfg)), 'student.py')


def test_a_cascade_stage_reading_another_width_is_named_by_its_index(student_cfg):
    cfg = copy.deepcopy(student_cfg)
    cfg.roi_head.bbox_head[1].in_channels = 32
    with pytest.raises(InputError, match=r'^student\.py: model\.roi_head\.bbox_head\.1\.'
                                         r'in_channels=32 does not match model\.roi_head\.'
                                         r'bbox_roi_extractor\.1\.out_channels=64$'):
        check_head_widths(MODELS.build(cfg), 'student.py')


def test_the_mask_branch_is_checked_too(student_cfg):
    cfg = copy.deepcopy(student_cfg)
    assert 'mask_head' in cfg.roi_head  # a Cascade Mask R-CNN, as the paper's students
    cfg.roi_head.mask_head.in_channels = 16  # one dict: mmdet builds it for every stage
    with pytest.raises(InputError, match=r'model\.roi_head\.mask_head\.0\.in_channels=16 '
                                         r'does not match model\.roi_head\.mask_roi_extractor'
                                         r'\.0\.out_channels=64$'):
        check_head_widths(MODELS.build(cfg), 'student.py')


def test_a_dense_head_narrower_than_its_neck():
    """RTMDet: the neck's out_channels against the dense bbox_head's in_channels."""
    cfg = Config.fromfile(f'{REPO}/configs/synthetic/student-rtmdet_tiny.py').model
    init_default_scope('mmdet')
    check_head_widths(MODELS.build(copy.deepcopy(cfg)), 'rtmdet.py')
    cfg.bbox_head.in_channels = 48
    with pytest.raises(InputError, match=r'^rtmdet\.py: model\.bbox_head\.in_channels=48 does '
                                         r'not match model\.neck\.out_channels=96$'):
        check_head_widths(MODELS.build(cfg), 'rtmdet.py')

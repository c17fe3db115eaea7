"""tools/test.py options that mmdet's own test tool has: --tta, --paper-table on evaluator lists."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from procd_mm.utils import InputError
from tests.conftest import REPO, data_options, run_tool

STUDENT = f'{REPO}/configs/synthetic/student_tiny.py'
NO_MASK = ['model.roi_head.mask_head=None', 'model.roi_head.mask_roi_extractor=None']


def load_test_tool():
    spec = importlib.util.spec_from_file_location('test_tool', osp.join(REPO, 'tools/test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def boxes_only_ckpt(tmp_path_factory):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    cfg = Config.fromfile(STUDENT).model
    cfg.roi_head.mask_head = cfg.roi_head.mask_roi_extractor = None
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('ckpt') / 'student_boxes.pth'
    torch.save({'state_dict': MODELS.build(cfg).state_dict(), 'meta': {}}, path)
    return str(path)


def test_tta_tests_with_flip_augmentation(synthetic_root, boxes_only_ckpt, tmp_path):
    result = run_tool('tools/test.py', STUDENT, boxes_only_ckpt, '--tta', '--work-dir',
                      str(tmp_path), '--cfg-options', *data_options(synthetic_root), *NO_MASK)
    log = result.stdout + result.stderr
    assert "type='DetTTAModel'" in log and "type='TestTimeAug'" in log
    assert 'coco/bbox_mAP_50:' in log


def test_tta_with_a_mask_head_is_one_line(synthetic_root, boxes_only_ckpt, tmp_path):
    result = run_tool('tools/test.py', STUDENT, boxes_only_ckpt, '--tta', '--work-dir',
                      str(tmp_path / 'w'), '--cfg-options', *data_options(synthetic_root),
                      check=False)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith('error: --tta: ')
    assert not osp.exists(tmp_path / 'w')


def test_paper_table_replaces_the_coco_metrics_of_an_evaluator_list():
    tool = load_test_tool()
    dump = dict(type='DumpDetResults', out_file_path='x.pkl')
    coco = dict(type='CocoMetric', ann_file='a.json', metric='bbox')
    out = tool.paper_table_evaluators([dump, coco], 'tables')
    assert out == [dump, dict(coco, type='PerClassAP50Metric', table_dir='tables')]
    assert tool.paper_table_evaluators(coco, 'tables') == out[1]
    with pytest.raises(InputError, match='--paper-table needs a CocoMetric'):
        tool.paper_table_evaluators([dump], 'tables')


def test_uri_data_roots_pass_the_preflight_check(tmp_path):
    """As in mmdet, an s3:// or http(s):// data root is read through backend_args; only local
    paths are checked before the run."""
    from procd_mm.apis import check_data
    cfg = Config.fromfile(STUDENT)
    for root in ('s3://bucket/cityscapes/', 'https://example.org/cityscapes/'):
        for loader in ('train_dataloader', 'val_dataloader'):
            cfg[loader].dataset.data_root = root
        cfg.val_evaluator.ann_file = root + 'annotations/val.json'
        check_data(cfg, ('train_dataloader', 'val_dataloader'))
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'missing') + '/'
    with pytest.raises(InputError, match='train_dataloader.dataset.data_root does not exist'):
        check_data(cfg, ('train_dataloader', 'val_dataloader'))

"""The linear probe of frozen P5 features (demo/probe.py) measures something: a detector
trained on the student's own classes probes better than a random one of its architecture."""
import numpy as np
import pytest
from mmengine.config import Config

from demo.data import relabel_categories
from demo.files import read_json, write_json
from demo.probe import ground_truth_boxes, load_detector, logistic_probe, probe, roi_features
from procd_mm.datasets.preparation.cityscapes_to_coco import CITYSCAPES_CLASSES
from tests.conftest import REPO

STUDENT = f'{REPO}/configs/synthetic/student-paper_tiny.py'


@pytest.fixture(scope='module')
def target(tmp_path_factory):
    """Street scenes whose object colours are random (colour noise σ = 80 per channel), so
    that colour, which any random network passes through, does not give the class away."""
    from procd_mm.datasets.preparation.scene_domain import SceneDomain
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
    root = str(tmp_path_factory.mktemp('probe_target'))
    generate_synthetic_cityscapes(root, seed=7, num_train=240, num_val=100,
                                  domain=SceneDomain(colour_jitter=80.0))
    return root + '/'


def test_trained_detector_probes_better_than_a_random_one(target, tmp_path):
    from mmengine.runner import Runner

    import procd_mm  # noqa: F401
    cfg = Config.fromfile(STUDENT)
    cfg.train_dataloader.dataset.data_root = target
    cfg.work_dir = str(tmp_path / 'trained')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=100, val_interval=1000)
    cfg.param_scheduler = [  # the demo's schedule (demo/configs.py) at 100 iterations
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=100, milestones=[80], gamma=0.1)]
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=100)
    Runner.from_cfg(cfg).train()
    trained = probe(STUDENT, str(tmp_path / 'trained' / 'iter_100.pth'), target,
                    CITYSCAPES_CLASSES)
    random = probe(STUDENT, None, target, CITYSCAPES_CLASSES)
    assert trained['val_boxes'] == random['val_boxes'] > 50
    assert trained['accuracy'] > random['accuracy'] + 3.0, (trained, random)
    assert trained['balanced_accuracy'] > random['balanced_accuracy']


def test_logistic_probe_on_separable_and_on_uninformative_features():
    import numpy as np
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    informative = np.eye(3)[y] * 4 + rng.normal(0, 1, (300, 3))
    noise = rng.normal(0, 1, (300, 3))
    good = logistic_probe(informative[:200], y[:200], informative[200:], y[200:], 3)
    bad = logistic_probe(noise[:200], y[:200], noise[200:], y[200:], 3)
    assert good['accuracy'] > 95.0 and bad['accuracy'] < 50.0
    assert (good['train_boxes'], good['val_boxes']) == (200, 100)


def test_ground_truth_boxes_in_another_label_space(target, tmp_path):
    """Relabelled to COCO's ids (the paper regime's source), the boxes keep their classes."""
    ann = tmp_path / 'val.json'
    write_json(str(ann), read_json(f'{target}annotations/instancesonly_filtered_gtFine_val.json'))
    before = ground_truth_boxes(str(ann), CITYSCAPES_CLASSES)
    relabel_categories(str(ann), ((1, 'person'), (3, 'car'), (8, 'truck')))
    coco = read_json(str(ann))
    assert [c['id'] for c in coco['categories']] == [1, 3, 8]
    assert {a['category_id'] for a in coco['annotations']} <= {1, 3, 8}
    after = ground_truth_boxes(str(ann), ('person', 'car', 'truck'))
    kept = {'person', 'car', 'truck'}
    expect = sorted((f, tuple(b), CITYSCAPES_CLASSES[c]) for f, bs, cs in before
                    for b, c in zip(bs, cs) if CITYSCAPES_CLASSES[c] in kept)
    got = sorted((f, tuple(b), ('person', 'car', 'truck')[c]) for f, bs, cs in after
                 for b, c in zip(bs, cs))
    assert got == expect and got


@pytest.mark.parametrize('config, level, width', [('student-paper_tiny.py', 3, 64),
                                                  ('student-paper-rtmdet_tiny.py', 2, 96)])
def test_the_probe_reads_the_stride_32_level(config, level, width, target):
    """P5 is index 3 of the Cascade's FPN and index 2 of RTMDet's: the probe reads by stride."""
    import torch
    from mmcv.ops import roi_align
    model = load_detector(f'{REPO}/configs/synthetic/{config}', None)
    images = ground_truth_boxes(f'{target}annotations/instancesonly_filtered_gtFine_train.json',
                                CITYSCAPES_CLASSES)[:2]
    x, y = roi_features(model, f'{target}leftImg8bit/train', images)
    assert x.shape == (len(y), width)
    import mmcv
    img = mmcv.imread(f'{target}leftImg8bit/train/{images[0][0]}')
    batch = model.data_preprocessor(
        dict(inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()]), False)
    with torch.no_grad():
        feat = model.extract_feat(batch['inputs'])[level]
        boxes = torch.tensor(images[0][1]).float()
        rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
        ref = roi_align(feat, rois, (1, 1), 1 / 32, 2, 'avg', True).flatten(1).numpy()
    assert np.allclose(x[:len(boxes)], ref)

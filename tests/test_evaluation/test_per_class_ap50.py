"""PerClassAP50Metric against pycocotools run directly, and the paper tables."""
import json
import math

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import procd_mm  # noqa: F401  (registers the metric)
from procd_mm.evaluation.paper_table import format_markdown, write_tables
from procd_mm.evaluation.per_class_ap50_metric import PerClassAP50Metric, ap_at_iou

CLASSES = ('car', 'person', 'truck')
# image id -> ground truth [(class index, x1, y1, x2, y2)]
GT = {
    1: [(0, 10, 10, 50, 50), (1, 60, 10, 80, 60)],
    2: [(0, 5, 5, 45, 30), (2, 50, 50, 95, 95)],
    3: [(1, 10, 40, 30, 90), (1, 40, 40, 60, 90), (2, 0, 0, 40, 40)],
    4: [(0, 20, 20, 70, 70)],
}
# image id -> predictions [(class index, score, x1, y1, x2, y2)]
PRED = {
    1: [(0, 0.9, 11, 11, 50, 50), (1, 0.3, 60, 12, 80, 60), (2, 0.8, 60, 10, 80, 60)],
    2: [(0, 0.4, 5, 5, 45, 30), (0, 0.7, 50, 50, 95, 95), (2, 0.6, 52, 55, 95, 95)],
    3: [(1, 0.95, 10, 40, 30, 90), (2, 0.5, 20, 20, 60, 60)],  # a person missed
    4: [(0, 0.2, 20, 20, 70, 70), (1, 0.85, 20, 20, 70, 70)],
}


def gt_json(path):
    images = [dict(id=i, file_name=f'{i}.jpg', width=100, height=100) for i in GT]
    annotations = []
    for image_id, objects in GT.items():
        for label, x1, y1, x2, y2 in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=label + 1, bbox=[x1, y1, x2 - x1, y2 - y1],
                                    area=(x2 - x1) * (y2 - y1), iscrowd=0))
    categories = [dict(id=i + 1, name=c) for i, c in enumerate(CLASSES)]
    path.write_text(json.dumps(dict(images=images, annotations=annotations,
                                    categories=categories)))
    return str(path)


def data_samples():
    samples = []
    for image_id, preds in PRED.items():
        labels, scores, boxes = zip(*[(p[0], p[1], p[2:]) for p in preds])
        samples.append(dict(
            img_id=image_id, ori_shape=(100, 100),
            pred_instances=dict(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                scores=torch.tensor(scores), labels=torch.tensor(labels))))
    return samples


def direct_ap50(ann_file):
    """Per-class AP50 straight from pycocotools, IoU 0.5 only."""
    coco = COCO(ann_file)
    dets = [dict(image_id=i, category_id=p[0] + 1, score=p[1],
                 bbox=[p[2], p[3], p[4] - p[2], p[5] - p[3]])
            for i, preds in PRED.items() for p in preds]
    coco_eval = COCOeval(coco, coco.loadRes(dets), 'bbox')
    coco_eval.params.iouThrs = np.array([0.5])
    coco_eval.evaluate()
    coco_eval.accumulate()
    precision = coco_eval.eval['precision'][0, :, :, 0, -1]
    return {name: float(np.mean(precision[:, k][precision[:, k] > -1]))
            for k, name in enumerate(CLASSES)}


def evaluate(metric):
    metric.dataset_meta = dict(classes=CLASSES)
    samples = data_samples()
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    return metric.evaluate(size=len(samples))


@pytest.fixture
def ann_file(tmp_path):
    return gt_json(tmp_path / 'gt.json')


def test_per_class_ap50_matches_pycocotools(ann_file, tmp_path, monkeypatch):
    evaluations = []
    original = COCOeval.evaluate
    monkeypatch.setattr(COCOeval, 'evaluate', lambda self: evaluations.append(1) or original(self))
    metric = METRICS.build(dict(type='PerClassAP50Metric', ann_file=ann_file,
                                table_dir=str(tmp_path / 'tables'), method='Student'))
    results = evaluate(metric)
    assert len(evaluations) == 1  # AP50 per class comes from CocoMetric's own run

    expected = direct_ap50(ann_file)
    assert len(set(expected.values())) == 3  # the classes really differ
    assert 0 < min(expected.values()) and expected['car'] < 1
    for name in CLASSES:
        assert results[f'coco/bbox_AP50_{name}'] == pytest.approx(expected[name], abs=1e-12)
    mean = np.mean(list(expected.values()))
    assert results['coco/bbox_mAP50_paper'] == pytest.approx(mean, abs=1e-12)
    assert results['coco/bbox_mAP_50'] == pytest.approx(mean, abs=5e-4)  # COCO's own, rounded
    for key in ('mAP', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l'):
        assert f'coco/bbox_{key}' in results

    table = json.loads((tmp_path / 'tables' / 'per_class_ap50.json').read_text())
    assert list(table['classes']) == list(CLASSES)
    for name in CLASSES:
        assert table['classes'][name] == pytest.approx(100 * expected[name])
    assert table['mAP'] == pytest.approx(100 * mean)
    markdown = (tmp_path / 'tables' / 'per_class_ap50.md').read_text().splitlines()
    assert markdown[0] == '| Method | car | person | truck | mAP |'
    assert markdown[2] == '| Student | ' + ' | '.join(
        f'{100 * v:.1f}' for v in [*expected.values(), mean]) + ' |'


def test_ground_truth_from_data_samples(ann_file):
    """Without ann_file, ground truth comes from the samples' instances."""
    coco = COCO(ann_file)
    metric = PerClassAP50Metric(prefix='target')
    metric.dataset_meta = dict(classes=CLASSES)
    for sample in data_samples():
        sample['instances'] = [
            dict(bbox=[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                       a['bbox'][1] + a['bbox'][3]], bbox_label=a['category_id'] - 1,
                 ignore_flag=0)
            for a in coco.loadAnns(coco.getAnnIds(imgIds=sample['img_id']))]
        metric.process({}, [sample])
    results = metric.evaluate(size=len(PRED))
    for name, ap in direct_ap50(ann_file).items():
        assert results[f'target/bbox_AP50_{name}'] == pytest.approx(ap, abs=1e-12)


def test_class_without_ground_truth_is_nan_and_left_out_of_mean():
    precision = -np.ones((2, 3, 2, 4, 3))
    precision[0, :, 0, 0, -1] = [1.0, 0.5, 0.0]
    assert ap_at_iou(precision, 0, 0) == pytest.approx(0.5)
    assert math.isnan(ap_at_iou(precision, 0, 1))
    row = {'x/bbox_AP50_car': 0.5, 'x/bbox_AP50_bus': float('nan'),
           'x/bbox_mAP50_paper': 0.5, 'x/bbox_mAP_50': 0.9}
    assert format_markdown(row).splitlines() == [
        '| car | bus | mAP |', '| --- | --- | --- |', '| 50.0 | - | 50.0 |']


def test_write_tables_without_rows_names_the_keys(tmp_path):
    with pytest.raises(KeyError, match='bbox_AP50_<class>'):
        write_tables({'coco/bbox_mAP': 0.3}, str(tmp_path))
    paths = write_tables({'bbox_AP50_car': float('nan'), 'bbox_mAP50_paper': float('nan')},
                         str(tmp_path), name='t')
    assert json.loads(open(paths['json']).read())['classes'] == {'car': None}


@pytest.mark.parametrize('kwargs, message', [
    (dict(metric='segm'), 'metric must be "bbox"'),
    (dict(iou_thrs=[0.75, 0.9]), r'iou_thrs \[0.75, 0.9\] lack 0.5'),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PerClassAP50Metric(**kwargs)


def test_metrics_in_threads_and_nested_each_read_their_own_evaluator(ann_file, tmp_path):
    """The evaluators are captured per context, not through a module global swapped per
    call: two metrics computed at once in two threads, one of them on other predictions,
    and a capture nested in another each get their own COCOeval's precision."""
    from concurrent.futures import ThreadPoolExecutor

    from mmdet.evaluation.metrics import coco_metric

    from procd_mm.evaluation.per_class_ap50_metric import _capture_coco_evals

    def run(shift):
        metric = PerClassAP50Metric(ann_file=ann_file)
        metric.dataset_meta = dict(classes=CLASSES)
        samples = data_samples()
        for sample in samples:  # shifted boxes score lower
            sample['pred_instances']['bboxes'] += shift
        metric.process({}, samples)
        return metric.evaluate(size=len(samples))

    alone = {shift: run(shift) for shift in (0., 6.)}
    assert alone[0.]['coco/bbox_mAP50_paper'] != alone[6.]['coco/bbox_mAP50_paper']
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(run, [0., 6.] * 4))
    for shift, results in zip([0., 6.] * 4, together):
        assert results == pytest.approx(alone[shift], nan_ok=True)

    coco = COCO(ann_file)
    with _capture_coco_evals() as outer:
        first = coco_metric.COCOeval(coco, coco, 'bbox')
        with _capture_coco_evals() as inner:
            second = coco_metric.COCOeval(coco, coco, 'bbox')
        third = coco_metric.COCOeval(coco, coco, 'bbox')
    assert inner == [second] and outer == [first, third]
    assert isinstance(first, COCOeval)
    outside = coco_metric.COCOeval(coco, coco, 'bbox')
    assert outside not in outer

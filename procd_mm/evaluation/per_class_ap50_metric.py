"""COCO bbox evaluation plus the paper's per-class AP50 row (paper Tables II-IV)."""
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Dict, Iterator, List, Optional

import numpy as np
from mmdet.evaluation.metrics import CocoMetric
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric
from mmdet.registry import METRICS
from mmengine.logging import print_log

from .paper_table import AP50_PREFIX, MEAN_KEY, TABLE_NAME, format_markdown, write_tables

_CAPTURED: ContextVar[Optional[List]] = ContextVar('procd_coco_evals', default=None)


def _recording(cls):
    """``cls`` (pycocotools' ``COCOeval`` or mmdet's ``COCOevalMP``), which also appends
    every instance to the list of the innermost :func:`_capture_coco_evals` of the current
    context (thread, task); outside one it is ``cls`` exactly."""
    if getattr(cls, '_procd_recording', False):
        return cls

    class Recording(cls):
        _procd_recording = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            captured = _CAPTURED.get()
            if captured is not None:
                captured.append(self)

    Recording.__name__ = Recording.__qualname__ = cls.__name__
    return Recording


# ``CocoMetric.compute_metrics`` keeps its evaluator in a local variable and builds it from
# the globals of its module; those are replaced once, here, by recording subclasses. Each
# capture has its own list in a context variable, so metrics nested in one another or run
# in several threads each see their own evaluators.
for _name in ('COCOeval', 'COCOevalMP'):
    setattr(mmdet_coco_metric, _name, _recording(getattr(mmdet_coco_metric, _name)))


@contextmanager
def _capture_coco_evals() -> Iterator[List]:
    """The ``COCOeval`` / ``COCOevalMP`` objects that mmdet's CocoMetric builds inside."""
    captured: List = []
    token = _CAPTURED.set(captured)
    try:
        yield captured
    finally:
        _CAPTURED.reset(token)


def ap_at_iou(precision: np.ndarray, iou_index: int, class_index: int) -> float:
    """AP of one class at one IoU threshold from ``COCOeval.eval['precision']``.

    Area range "all", the last ``maxDets``; the mean over recall thresholds of
    entries > -1, as pycocotools and mmdet's classwise table compute it; NaN
    when the class has no ground truth.
    """
    values = precision[iou_index, :, class_index, 0, -1]
    values = values[values > -1]
    return float(np.mean(values)) if values.size else float('nan')


@METRICS.register_module()
class PerClassAP50Metric(CocoMetric):
    """mmdet's ``CocoMetric`` (bbox) plus per-class AP at IoU 0.5 and their mean.

    Returns CocoMetric's results (``bbox_mAP``, ``bbox_mAP_50``, ...) and
    ``bbox_AP50_<class>`` for every class plus ``bbox_mAP50_paper`` (mean over
    classes with ground truth), as fractions. Both come from the one COCOeval
    run CocoMetric does. The row is logged as a Markdown table laid out like
    the paper's Tables II-IV (percent, one decimal).

    Args:
        table_dir (str, optional): also write ``<table_name>.json`` and
            ``<table_name>.md`` there.
        table_name (str): file name stem of the tables.
        method (str, optional): "Method" column of the table (e.g. 'ProC-KD').
        **kwargs: ``CocoMetric`` arguments; ``metric`` must be 'bbox' and
            ``iou_thrs`` must contain 0.5.
    """

    def __init__(self,
                 table_dir: Optional[str] = None,
                 table_name: str = TABLE_NAME,
                 method: Optional[str] = None,
                 metric='bbox',
                 **kwargs) -> None:
        if metric not in ('bbox', ['bbox']):
            raise ValueError(f'PerClassAP50Metric: metric must be "bbox", got {metric!r}')
        super().__init__(metric='bbox', **kwargs)
        iou_thrs = np.atleast_1d(self.iou_thrs)
        matches = np.flatnonzero(np.isclose(iou_thrs, 0.5))
        if not matches.size:
            raise ValueError(f'PerClassAP50Metric: iou_thrs {iou_thrs.tolist()} lack 0.5')
        self.iou50_index = int(matches[0])
        self.table_dir = table_dir
        self.table_name = table_name
        self.method = method

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """CocoMetric's results plus ``bbox_AP50_<class>`` and ``bbox_mAP50_paper``."""
        with _capture_coco_evals() as coco_evals:
            eval_results = super().compute_metrics(results)
        if not coco_evals:  # format_only, or no detections at all (mmdet logs it)
            return eval_results
        coco_eval = coco_evals[-1]
        precision = coco_eval.eval['precision']
        per_class = {}
        for index, cat_id in enumerate(coco_eval.params.catIds):
            name = coco_eval.cocoGt.cats[cat_id]['name']
            per_class[name] = ap_at_iou(precision, self.iou50_index, index)
        valid = [ap for ap in per_class.values() if not np.isnan(ap)]
        for name, ap in per_class.items():
            eval_results[f'{AP50_PREFIX}{name}'] = ap
        eval_results[MEAN_KEY] = float(np.mean(valid)) if valid else float('nan')

        print_log('Per-class AP50 (%):\n' + format_markdown(eval_results, self.method),
                  logger='current')
        if self.table_dir is not None:
            paths = write_tables(eval_results, self.table_dir, self.table_name, self.method)
            print_log(f'Per-class AP50 tables written to {paths["json"]} and {paths["md"]}',
                      logger='current')
        return eval_results

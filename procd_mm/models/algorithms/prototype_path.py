"""The student's RoI heads on the RoI rows that read the replaced FPN level (paper Eq. 6).

"The augmentation module and the student share the same classifier" (paper
Sec. III-C): a path feeds the student's RoI heads a pyramid whose level ``L``
(3 = P5) is replaced by an augmented map. Proposals, assignment and sampling are
those of the plain student, so only the RoIs that the student's RoI extractor maps
to level ``L`` read the new map. Their rows are the only ones a path computes and
scores; every other row would be the plain student's row again, and scoring it
would only add a copy of ``L_stu`` (docs/method.md, "Level-3 rows").

Works with mmdet's ``StandardRoIHead`` (Faster / Mask R-CNN) and ``CascadeRoIHead``
(Cascade (Mask) R-CNN) and their subclasses that keep ``bbox_loss``.
"""
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import List, Optional, Sequence

from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.structures.bbox import bbox2roi
from torch import Tensor

from .plain_batch_statistics import PlainBatchStatistics


@dataclass
class StageRows:
    """One RoI stage of the plain pass, and which of its rows read the replaced level."""
    stage: int
    rois: Tensor  # [N, 5] sampled RoIs of the plain student
    cls_score: Tensor  # [N, C + 1] the plain student's class logits (in its graph)
    labels: Tensor  # [N] sampled labels
    label_weights: Tensor  # [N]
    on_level: Tensor  # indices of the rows that read the replaced level


@dataclass
class PathLogits:
    """Class logits of a path on the level rows of each stage (None: the stage has none)."""
    logits: List[Optional[Tensor]]
    new_level: Tensor


class PrototypePath:
    """Record the plain student's RoI stages; score replaced pyramids on their level rows.

    Usage, in a training step::

        with path.plain_pass():
            losses = student.loss(inputs, data_samples)   # mmdet's own loss, unchanged
        logits = path.logits(student_feats, replaced_level_map)
        path.cls_loss(logits), path.con_loss(con_loss_module, logits)

    :meth:`plain_pass` records, for every stage of mmdet's ``roi_head.loss``, the
    sampled RoIs, their class logits and labels, and the batch-norm statistics of
    the bbox heads (:class:`PlainBatchStatistics`). :meth:`logits` runs the stage's
    RoI extractor on the level rows only (reading the replaced map; the other
    levels enter detached and are not read) and the stage's bbox head under the
    recorded statistics.

    Args:
        detector: an mmdet two-stage detector (the student).
        level (int): index of the replaced neck output.
    """

    def __init__(self, detector, level: int):
        self.roi_head = detector.roi_head
        self.level = level
        self.cascade = isinstance(self.roi_head, CascadeRoIHead)
        self.batch_stats = PlainBatchStatistics(self.roi_head.bbox_head,
                                                'roi_head.bbox_head')
        self.stages: List[StageRows] = []

    def _parts(self, stage: int):
        """(bbox extractor, bbox head, train cfg, loss weight) of ``stage``."""
        head = self.roi_head
        if self.cascade:
            return (head.bbox_roi_extractor[stage], head.bbox_head[stage], head.train_cfg[stage],
                    head.stage_loss_weights[stage])
        return head.bbox_roi_extractor, head.bbox_head, head.train_cfg, 1.0

    @contextmanager
    def plain_pass(self):
        """Record the stages and batch statistics of the student's own loss computation.

        mmdet's ``roi_head.loss`` calls ``self.bbox_loss(..., sampling_results)`` once per
        stage and keeps the results local; the head's ``bbox_loss`` is wrapped, for this
        pass only, to see them. Its arguments are bound by name (``sampling_results``),
        so the wrap does not depend on their order.
        """
        self.stages = []
        bbox_loss = self.roi_head.bbox_loss
        signature = inspect.signature(bbox_loss)

        def recording_bbox_loss(*args, **kwargs):
            results = bbox_loss(*args, **kwargs)
            self._record(signature.bind(*args, **kwargs).arguments['sampling_results'],
                         results)
            return results

        self.roi_head.bbox_loss = recording_bbox_loss
        try:
            with self.batch_stats.capture():
                yield self
        finally:
            del self.roi_head.bbox_loss  # the instance attribute; the class's method is back

    def _record(self, sampling_results, results: dict) -> None:
        stage = len(self.stages)
        extractor, head, train_cfg, _ = self._parts(stage)
        targets = results.get('bbox_targets') or head.get_targets(sampling_results, train_cfg,
                                                                 concat=True)
        rois = results['rois'] if 'rois' in results else \
            bbox2roi([res.priors for res in sampling_results])  # StandardRoIHead keeps none
        # the level each row read: mapped as the extractor mapped it, from the RoIs in the
        # feature dtype (``SingleRoIExtractor.forward`` casts them; compat maps in float32)
        feats_dtype = results['bbox_feats'].dtype if 'bbox_feats' in results else rois.dtype
        on_level = extractor.map_roi_levels(rois.to(feats_dtype),
                                            extractor.num_inputs) == self.level
        self.stages.append(StageRows(stage, rois, results['cls_score'], targets[0], targets[1],
                                     on_level.nonzero().squeeze(1)))

    def logits(self, feats: Sequence[Tensor], new_level: Tensor) -> PathLogits:
        """Class logits of every stage's level rows with ``feats[level]`` replaced by ``new_level``.

        ``feats`` are the student's neck outputs; only their shapes and dtypes are used
        (detached), as the level rows read ``new_level`` alone.
        """
        logits = []
        for rows in self.stages:
            if rows.on_level.numel() == 0:
                logits.append(None)
                continue
            extractor, head, _, _ = self._parts(rows.stage)
            inputs = [f.detach() for f in feats[:extractor.num_inputs]]
            inputs[self.level] = new_level
            roi_feats = extractor(inputs, rows.rois[rows.on_level])
            if self.roi_head.with_shared_head:
                roi_feats = self.roi_head.shared_head(roi_feats)
            with self.batch_stats.replay():
                logits.append(head(roi_feats)[0])
        return PathLogits(logits, new_level)

    def cls_loss(self, path: PathLogits) -> Tensor:
        """``L_procls``: Σ_stages w_s · CE over the stage's level rows, averaged over them.

        Exactly 0 (with the graph to the replaced map kept) when no row reads the level.
        """
        total = path.new_level.sum() * 0.
        for rows, logits in zip(self.stages, path.logits):
            if logits is None:
                continue
            _, head, _, weight = self._parts(rows.stage)
            label_weights = rows.label_weights[rows.on_level]
            avg_factor = max(float((label_weights > 0).sum()), 1.)
            total = total + weight * head.loss_cls(logits, rows.labels[rows.on_level],
                                                   label_weights, avg_factor=avg_factor)
        return total

    def con_loss(self, loss_module, path: PathLogits) -> Tensor:
        """``L_con`` between the path's and the plain student's logits on the level rows."""
        plain = [rows.cls_score[rows.on_level] for rows in self.stages]
        augmented = [p if logits is None else logits for p, logits in zip(plain, path.logits)]
        return loss_module(augmented, plain) + path.new_level.sum() * 0.

"""The student's dense head on the priors of the replaced level (paper Eq. 6, SPEC §3.5).

One-stage students (RetinaNet, FCOS, ATSS, GFL, RTMDet: mmdet's ``BaseDenseHead``
subclasses) classify every prior of every level; they have no RoIs. The plain pass is
mmdet's own ``head.loss``, unchanged; a forward pre-hook on the head's ``loss_cls``
records the class scores of the replaced level's priors (in the student's graph) and
the targets the head assigned to them (labels, label weights, and the quality targets
of QFL heads: GFL's IoU scores, RTMDet's assign metrics). A path runs that level's
classification branch alone on the augmented map and scores it with the head's own
``loss_cls`` on those priors (docs/method.md, "Dense students").
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from mmdet.models.dense_heads import (
    AnchorFreeHead,
    AnchorHead,
    FCOSHead,
    RTMDetHead,
    RTMDetSepBNHead,
)
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.models.utils import sigmoid_geometric_mean
from torch import Tensor, nn

from procd_mm.utils import InputError

from .plain_batch_statistics import PlainBatchStatistics

Target = Union[Tensor, Tuple[Tensor, ...]]


@dataclass
class LevelPriors:
    """The replaced level's priors in the plain pass, rows in mmdet's flattening order
    (image, y, x, prior)."""
    cls_score: Tensor  # [N, C] the plain student's scores (in its graph)
    target: Target  # labels [N], or (labels, quality) for QFL heads
    weight: Optional[Tensor]  # [N] label weights (None: all 1)
    avg_factor: float  # the head's own normaliser restricted to these priors, >= 1


@dataclass
class DensePathLogits:
    """Class scores of a path on the level's priors."""
    logits: Tensor  # [N, C]
    new_level: Tensor


def level_cls_score(head: nn.Module, level: int, x: Tensor) -> Tensor:
    """``head``'s classification branch for neck output ``level`` alone, on map ``x``:
    the level's entry of ``head.forward(feats)[0]`` with ``feats[level] = x``."""
    if isinstance(head, RTMDetHead):  # no forward_single; RTMDetSepBNHead has per-level layers
        sep = isinstance(head, RTMDetSepBNHead)
        cls_feat = x
        for layer in (head.cls_convs[level] if sep else head.cls_convs):
            cls_feat = layer(cls_feat)
        score = (head.rtm_cls[level] if sep else head.rtm_cls)(cls_feat)
        if head.with_objectness:
            reg_feat = x
            for layer in (head.reg_convs[level] if sep else head.reg_convs):
                reg_feat = layer(reg_feat)
            objectness = (head.rtm_obj[level] if sep else head.rtm_obj)(reg_feat)
            score = inverse_sigmoid(sigmoid_geometric_mean(score, objectness))
        return score
    if isinstance(head, FCOSHead):
        return head.forward_single(x, head.scales[level], head.strides[level])[0]
    if hasattr(head, 'scales'):  # ATSS, GFL
        return head.forward_single(x, head.scales[level])[0]
    return head.forward_single(x)[0]  # RetinaNet and other anchor heads


def flatten_scores(score: Tensor, channels: int) -> Tensor:
    """``[B, A*C, H, W]`` → ``[B*H*W*A, C]``, the row order of mmdet's dense losses."""
    return score.permute(0, 2, 3, 1).reshape(-1, channels)


class DensePrototypePath:
    """Record the plain dense head's level targets; score replaced level maps on its priors.

    Usage, in a training step (as :class:`PrototypePath`)::

        with path.plain_pass():
            losses = student.loss(inputs, data_samples)   # mmdet's own loss, unchanged
        logits = path.logits(student_feats, replaced_level_map)
        path.cls_loss(logits), path.con_loss(con_loss_module, logits)

    Per-level heads (RetinaNet, ATSS, GFL, RTMDet) call ``loss_cls`` once per level; FCOS
    calls it once on all levels concatenated, level after level: the level's rows are
    its slice.

    Args:
        detector: an mmdet single-stage detector (the student).
        level (int): index of the replaced neck output.
    """

    def __init__(self, detector, level: int):
        head = getattr(detector, 'bbox_head', None)
        if not isinstance(head, (AnchorHead, AnchorFreeHead)):
            raise InputError(f'ProCKD: the prototype path needs an R-CNN roi_head or an mmdet '
                             f'dense bbox_head (RetinaNet, FCOS, ATSS, GFL, RTMDet), got '
                             f'{type(head).__name__}')
        self.head = head
        self.level = level
        self.batch_stats = PlainBatchStatistics(head, 'bbox_head')
        self.calls: List[tuple] = []
        self.priors: Optional[LevelPriors] = None

    @contextmanager
    def plain_pass(self):
        """Record every ``loss_cls`` call and the batch statistics of the head's own loss."""
        self.calls, self.priors = [], None

        def record(module, args, kwargs):
            self.calls.append((args, kwargs))

        handle = self.head.loss_cls.register_forward_pre_hook(record, with_kwargs=True)
        try:
            with self.batch_stats.capture():
                yield self
        finally:
            handle.remove()

    def _level_priors(self, feats: Sequence[Tensor]) -> LevelPriors:
        num_levels = len(feats)
        if len(self.calls) == num_levels:
            (args, kwargs), start, stop = self.calls[self.level], None, None
        elif len(self.calls) == 1:  # FCOS: all levels concatenated, level after level
            args, kwargs = self.calls[0]
            sizes = [f.shape[0] * f.shape[2] * f.shape[3] * self._priors_per_position()
                     for f in feats]
            start = sum(sizes[:self.level])
            stop = start + sizes[self.level]
        else:
            raise RuntimeError(f'{type(self.head).__name__} called loss_cls {len(self.calls)} '
                               f'times for {num_levels} levels; cannot tell its levels apart')

        def rows(t):
            return t if t is None or start is None else t[start:stop]

        score = rows(args[0])
        target = args[1] if len(args) > 1 else kwargs['target']
        target = tuple(rows(t) for t in target) if isinstance(target, (tuple, list)) \
            else rows(target)
        weight = rows(args[2] if len(args) > 2 else kwargs.get('weight'))
        labels = target[0] if isinstance(target, tuple) else target
        if isinstance(self.head, RTMDetHead) and isinstance(target, tuple):
            # RTMDet normalises its QFL by the sum of the assign metrics
            avg_factor = float(target[1].detach().sum())
        else:  # the others by the number of positive priors
            avg_factor = float(((labels >= 0) & (labels < self.head.num_classes)).sum())
        return LevelPriors(score, target, weight, max(avg_factor, 1.))

    def _priors_per_position(self) -> int:
        generator = getattr(self.head, 'prior_generator', None)
        return generator.num_base_priors[self.level] if generator is not None else 1

    def logits(self, feats: Sequence[Tensor], new_level: Tensor) -> DensePathLogits:
        """Class scores of the level's priors with ``feats[level]`` replaced by ``new_level``.

        Only the level's classification branch runs, under the plain pass's statistics.
        """
        if self.priors is None:
            self.priors = self._level_priors(feats)
        with self.batch_stats.replay():
            score = level_cls_score(self.head, self.level, new_level)
        return DensePathLogits(flatten_scores(score, self.head.cls_out_channels), new_level)

    def cls_loss(self, path: DensePathLogits) -> Tensor:
        """``L_procls``: the head's ``loss_cls`` on the level's priors with the plain pass's
        targets, normalised by the head's rule restricted to the level (at least 1).

        Exactly 0 (with the graph kept) when the level has no positive prior."""
        priors = self.priors
        if not self._has_positives(priors):
            return path.logits.sum() * 0.
        return self.head.loss_cls(path.logits, priors.target, priors.weight,
                                  avg_factor=priors.avg_factor)

    def _has_positives(self, priors: LevelPriors) -> bool:
        labels = priors.target[0] if isinstance(priors.target, tuple) else priors.target
        return bool(((labels >= 0) & (labels < self.head.num_classes)).any())

    def con_loss(self, loss_module, path: DensePathLogits) -> Tensor:
        """``L_con`` between the path's and the plain student's scores on the level's priors."""
        return loss_module(path.logits, self.priors.cls_score, self.priors.weight) \
            + path.new_level.sum() * 0.

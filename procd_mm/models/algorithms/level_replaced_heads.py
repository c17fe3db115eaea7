"""Run a two-stage detector's heads on pyramids that differ from the student's in one level.

The prototype path (SPEC §3.3) runs the student's RPN and RoI heads again on
its FPN pyramid with level ``L`` replaced by an augmented map. Everything that
does not read level ``L`` is unchanged by the replacement, so it is not
recomputed: the RPN runs on level ``L`` only, and in every RoI stage only the
RoIs that mmdet's ``SingleRoIExtractor`` maps to level ``L`` are extracted and
passed through the bbox / mask heads again; all other rows are taken from the
plain student's run (still in its graph, so gradients flow as in a full rerun).
Proposals, assignment and sampling are done once, on the plain student, and
reused by every path, so the class distributions of all paths are compared on
identical RoIs (``L_con``).

Works with anchor-based RPN heads (mmdet's ``RPNHead``) and with mmdet's
``StandardRoIHead`` (Faster / Mask R-CNN) and ``CascadeRoIHead`` (Cascade (Mask) R-CNN).
"""
import copy
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import torch
from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.models.utils import images_to_levels, multi_apply, unpack_gt_instances
from mmdet.structures.bbox import bbox2roi, cat_boxes
from torch import Tensor


@dataclass
class PathOutputs:
    """Losses and per-stage RoI class logits of one pyramid (plain or replaced)."""
    losses: Dict[str, Tensor] = field(default_factory=dict)
    cls_scores: List[Tensor] = field(default_factory=list)


def _stage_parts(roi_head, stage: int):
    """(bbox extractor, bbox head, mask extractor, mask head, loss weight) of a stage."""
    if isinstance(roi_head, CascadeRoIHead):
        mask = (roi_head.mask_roi_extractor[stage], roi_head.mask_head[stage]) \
            if roi_head.with_mask else (None, None)
        return (roi_head.bbox_roi_extractor[stage], roi_head.bbox_head[stage], *mask,
                roi_head.stage_loss_weights[stage])
    mask = (roi_head.mask_roi_extractor, roi_head.mask_head) if roi_head.with_mask \
        else (None, None)
    return roi_head.bbox_roi_extractor, roi_head.bbox_head, *mask, 1.0


def _replace_rows(extractor, head, plain_feats: Tensor, plain_out, rois: Tensor,
                  new_level: Tensor, level: int):
    """Head outputs with the rows of RoIs on ``level`` recomputed from ``new_level``.

    ``new_level=None`` marks a level equal to the plain one: nothing changes.
    """
    if new_level is None or level >= extractor.num_inputs or rois.numel() == 0:
        return plain_out
    on_level = (extractor.map_roi_levels(rois, extractor.num_inputs) == level).nonzero()
    idx = on_level.squeeze(1)
    if idx.numel() == 0:
        return plain_out
    new_out = head(extractor.roi_layers[level](new_level, rois[idx].type_as(new_level)))
    if isinstance(plain_out, tuple):
        return tuple(p.index_copy(0, idx, n) if p is not None else None
                     for p, n in zip(plain_out, new_out))
    return plain_out.index_copy(0, idx, new_out)


def _rpn_targets(head, cls_scores, gt, metas, gt_ignore):
    """Per-level anchors and targets, as ``AnchorHead.loss_by_feat`` computes them."""
    sizes = [score.shape[-2:] for score in cls_scores]
    anchors, valid = head.get_anchors(sizes, metas, device=cls_scores[0].device)
    *per_level, avg_factor = head.get_targets(anchors, valid, gt, metas,
                                              batch_gt_instances_ignore=gt_ignore)
    num_level_anchors = [a.size(0) for a in anchors[0]]
    level_anchors = images_to_levels([cat_boxes(a) for a in anchors], num_level_anchors)
    return list(zip(level_anchors, *per_level)), avg_factor


def _mask_loss(mask_head, mask_preds, targets, labels):
    """The loss part of ``FCNMaskHead.loss_and_target`` with precomputed targets."""
    if mask_preds.size(0) == 0:
        return mask_preds.sum()
    if mask_head.class_agnostic:
        labels = torch.zeros_like(labels)
    return mask_head.loss_mask(mask_preds, targets, labels)


class LevelReplacedHeads:
    """Compute the student's detection losses on its pyramid and on level-replaced copies.

    Args:
        detector: an mmdet ``TwoStageDetector`` (the student).
        level (int): index of the replaced neck output (3 = P5 for a 5-level FPN).
    """

    def __init__(self, detector, level: int = 3):
        self.detector = detector
        self.level = level

    def __call__(self, feats: Sequence[Tensor], replacements: Sequence[Tensor],
                 data_samples) -> Tuple[PathOutputs, List[PathOutputs]]:
        """Losses of the plain pyramid and of each pyramid with ``feats[level]`` replaced."""
        plain, paths = PathOutputs(), [PathOutputs() for _ in replacements]
        # a replacement equal to the plain level changes nothing (and gives bitwise the same
        # outputs, which recomputing a subset of RoI rows would not guarantee)
        replacements = [None if torch.equal(new, feats[self.level]) else new
                        for new in replacements]
        self._rpn(feats, replacements, data_samples, plain, paths)
        self._roi(feats, replacements, data_samples, plain, paths)
        return plain, paths

    def _rpn(self, feats, replacements, data_samples, plain, paths):
        det = self.detector
        rpn_samples = copy.deepcopy(data_samples)
        for sample in rpn_samples:
            sample.gt_instances.labels = torch.zeros_like(sample.gt_instances.labels)
        gt, gt_ignore, metas = unpack_gt_instances(rpn_samples)
        head = det.rpn_head
        cls_scores, bbox_preds = head(feats)
        targets, avg_factor = _rpn_targets(head, cls_scores, gt, metas, gt_ignore)
        loss_cls, loss_bbox = multi_apply(head.loss_by_feat_single, cls_scores, bbox_preds,
                                          *zip(*targets), avg_factor=avg_factor)
        plain.losses.update(loss_rpn_cls=loss_cls, loss_rpn_bbox=loss_bbox)
        proposal_cfg = det.train_cfg.get('rpn_proposal', det.test_cfg.rpn)
        self._proposals = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas,
                                               cfg=proposal_cfg)
        for new_level, path in zip(replacements, paths):
            level_cls, level_bbox = list(loss_cls), list(loss_bbox)
            if new_level is not None:
                level_cls[self.level], level_bbox[self.level] = head.loss_by_feat_single(
                    *head.forward_single(new_level), *targets[self.level],
                    avg_factor=avg_factor)
            path.losses.update(loss_rpn_cls=level_cls, loss_rpn_bbox=level_bbox)

    def _roi(self, feats, replacements, data_samples, plain, paths):
        head = self.detector.roi_head
        gt, gt_ignore, metas = unpack_gt_instances(data_samples)
        cascade = isinstance(head, CascadeRoIHead)
        num_stages = head.num_stages if cascade else 1
        results_list = self._proposals
        for stage in range(num_stages):
            assigner = head.bbox_assigner[stage] if cascade else head.bbox_assigner
            sampler = head.bbox_sampler[stage] if cascade else head.bbox_sampler
            rcnn_cfg = head.train_cfg[stage] if cascade else head.train_cfg
            sampling = []
            for i, results in enumerate(results_list):
                results.priors = results.pop('bboxes')
                assign = assigner.assign(results, gt[i], gt_ignore[i])
                sampling.append(sampler.sample(assign, results, gt[i],
                                               feats=[f[i][None] for f in feats]))
            b_ext, b_head, m_ext, m_head, weight = _stage_parts(head, stage)
            rois = bbox2roi([res.priors for res in sampling])
            plain_feats = b_ext(feats[:b_ext.num_inputs], rois)
            plain_out = b_head(plain_feats)
            outs = [plain_out] + [
                _replace_rows(b_ext, b_head, plain_feats, plain_out, rois, new, self.level)
                for new in replacements]
            if m_head is not None:
                pos_rois = bbox2roi([res.pos_priors for res in sampling])
                plain_mfeats = m_ext(feats[:m_ext.num_inputs], pos_rois)
                plain_masks = m_head(plain_mfeats)
                masks = [plain_masks] + [
                    _replace_rows(m_ext, m_head, plain_mfeats, plain_masks, pos_rois, new,
                                  self.level) for new in replacements]
            bbox_targets = b_head.get_targets(sampling, rcnn_cfg, concat=True)
            if m_head is not None:
                mask_targets = m_head.get_targets(sampling, gt, rcnn_cfg)
                pos_labels = torch.cat([res.pos_gt_labels for res in sampling])
            prefix = f's{stage}.' if cascade else ''
            for k, target in enumerate([plain] + paths):
                cls_score, bbox_pred = outs[k]
                stage_losses = b_head.loss(cls_score, bbox_pred, rois, *bbox_targets)
                if m_head is not None:
                    stage_losses['loss_mask'] = _mask_loss(m_head, masks[k], mask_targets,
                                                           pos_labels)
                for name, value in stage_losses.items():
                    target.losses[prefix + name] = value * weight if 'loss' in name else value
                target.cls_scores.append(cls_score)
            plain_res = dict(cls_score=outs[0][0], bbox_pred=outs[0][1], rois=rois,
                             bbox_targets=bbox_targets)
            if stage < num_stages - 1:
                with torch.no_grad():
                    results_list = b_head.refine_bboxes(sampling, plain_res, metas)
                if results_list is None:
                    break

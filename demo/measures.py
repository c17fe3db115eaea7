"""What the demo measures of a trained student: paper mAP50, detection counts, a digest of
its weights, the prototype usage of a ProC-KD checkpoint and its logged scalars."""
import hashlib
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .files import read_json, read_records


def map50(metrics: Dict[str, float]) -> float:
    """Paper mAP50 in percent (0 when the student made no detection at all)."""
    for key, value in metrics.items():
        if key.rsplit('/', 1)[-1] == 'bbox_mAP50_paper':
            return 0.0 if value is None or math.isnan(value) else 100.0 * float(value)
    return 0.0


def _iou(box, boxes):
    """IoU of one ``xywh`` box with an ``[k, 4]`` array of ``xywh`` boxes."""
    import numpy as np
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter + 1e-9)


def detection_counts(gt_file: str, det_file: Optional[str], score_thr: float,
                     classes: Sequence[str]) -> dict:
    """How much a model finds of ``classes`` at ``score >= score_thr``.

    ``images``: val images with at least one such detection (``of`` val images);
    ``boxes``: such detections per image; ``recall50``: percentage of the
    ground-truth objects of ``classes`` matched by a detection of the same class at
    IoU >= 0.5 (greedy, by score).
    """
    import numpy as np
    gt = read_json(gt_file)
    cat_ids = {c['id'] for c in gt['categories'] if c['name'] in classes}
    dets = read_json(det_file) if det_file and osp.isfile(det_file) else []
    dets = [d for d in dets if d['score'] >= score_thr and d['category_id'] in cat_ids]
    image_ids = [im['id'] for im in gt['images']]
    by_key: Dict[Tuple[int, int], list] = {}
    for d in sorted(dets, key=lambda d: -d['score']):
        by_key.setdefault((d['image_id'], d['category_id']), []).append(d['bbox'])
    found = total = 0
    gts: Dict[Tuple[int, int], list] = {}
    for a in gt['annotations']:
        if not a.get('iscrowd', 0) and a['category_id'] in cat_ids:
            gts.setdefault((a['image_id'], a['category_id']), []).append(a['bbox'])
    for key, boxes in gts.items():
        boxes = np.asarray(boxes, dtype=np.float64)
        taken = np.zeros(len(boxes), bool)
        total += len(boxes)
        for det in by_key.get(key, []):
            iou = _iou(np.asarray(det, dtype=np.float64), boxes)
            iou[taken] = -1
            j = int(iou.argmax())
            if iou[j] >= 0.5:
                taken[j] = True
        found += int(taken.sum())
    with_dets = {d['image_id'] for d in dets}
    return dict(images=sum(i in with_dets for i in image_ids), of=len(image_ids),
                boxes=len(dets) / max(1, len(image_ids)),
                recall50=100.0 * found / total if total else 0.0)


def state_digest(ckpt: str) -> str:
    """SHA-256 over the names, shapes and bytes of a checkpoint's ``state_dict``."""
    import torch
    state = torch.load(ckpt, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().contiguous().cpu()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def measure_prototype_usage(cfg: Config, ckpt: str, images: Dict[str, List[str]]) -> dict:
    """``{domain: {'teacher'|'student': prototype_usage}}`` of a ProC-KD checkpoint on P5.

    Positions are those of the image (the padding of the batch is left out).
    """
    from procd_mm.visualization import load_procd, prototype_maps

    from .stats import prototype_usage
    model, mcfg = load_procd(cfg, ckpt)
    out = {}
    for domain, paths in images.items():
        per_path = dict(teacher=[], student=[])
        for image in paths:
            maps = prototype_maps(model, mcfg, image)
            ph, pw = maps['meta']['pad_shape']
            ih, iw = maps['meta']['img_shape']
            fh, fw = maps['meta']['feat_shape']
            hh, ww = math.ceil(ih * fh / ph), math.ceil(iw * fw / pw)
            for name in (n for n in per_path if n in maps):
                per_path[name].append(maps[name]['assign'][:, :hh, :ww])
        out[domain] = {name: prototype_usage(a) for name, a in per_path.items() if a}
    return out


def latest_scalars(work_dir: str) -> Optional[str]:
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` of the latest run (or its ``<ts>.json``)."""
    stamps = sorted(d for d in os.listdir(work_dir)
                    if osp.isdir(osp.join(work_dir, d, 'vis_data'))) if osp.isdir(work_dir) else []
    for stamp in reversed(stamps):
        vis = osp.join(work_dir, stamp, 'vis_data')
        for name in ('scalars.json', f'{stamp}.json'):
            if osp.isfile(osp.join(vis, name)):
                return osp.join(vis, name)
    return None


def loss_flatness(scalars_file: str, tail: float = 0.1) -> dict:
    """How flat a run's training loss is at its end: the mean total ``loss`` over the last
    ``tail`` of the logged iterations against the ``tail`` before it (both after the
    schedule's step at 80 %), and the relative change."""
    losses = [float(r['loss']) for r in read_records(scalars_file) if 'loss' in r]
    k = max(1, int(len(losses) * tail))
    last, before = losses[-k:], losses[-2 * k:-k] or losses[-k:]
    last_m, before_m = sum(last) / len(last), sum(before) / len(before)
    return dict(last=last_m, before=before_m, change=(last_m - before_m) / before_m,
                window=k)

"""Pictures of the demo (PNG): loss curves from mmengine JSON logs, side-by-side detections
with the ground truth, and the prototype usage of the ProC-KD runs."""
import json
import math
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .files import read_records


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def read_scalars(path: str) -> Dict[str, List[Tuple[int, float]]]:
    """``{loss term: [(iteration, value), ...]}`` of the training records of a JSON log.

    Reads mmengine's ``vis_data/scalars.json`` or ``vis_data/<timestamp>.json``
    (one JSON object per line); validation/test records (no ``loss``) are skipped.
    """
    series: Dict[str, List[Tuple[int, float]]] = {}
    for record in read_records(path):
        if 'loss' not in record:
            continue
        step = int(record.get('iter', record.get('step', 0)))
        for key, value in record.items():
            if key.rsplit('.', 1)[-1].startswith('loss') and isinstance(value, (int, float)):
                series.setdefault(key, []).append((step, float(value)))
    return series


def plot_loss_curves(log_path: str, out_file: str, title: str = '') -> str:
    """One figure, one panel per loss term (total ``loss`` first), saved as PNG."""
    plt = _pyplot()
    series = read_scalars(log_path)
    if not series:
        raise ValueError(f'no training loss records in {log_path}')
    keys = ['loss'] + sorted(k for k in series if k != 'loss') if 'loss' in series \
        else sorted(series)
    cols = 4
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        steps, values = zip(*series[key])
        ax.plot(steps, values, marker='.' if len(steps) < 20 else None, lw=1.2)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    fig.suptitle(f'{title} — loss terms vs iteration ({osp.basename(log_path)})', fontsize=11)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=80)
    plt.close(fig)
    return out_file


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """The image with a white strip on top holding ``text``."""
    import cv2
    strip = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([strip, image], axis=0)


def coco_ground_truth(ann_file: str) -> Dict[str, Tuple[np.ndarray, List[str]]]:
    """``{image file name: (xyxy boxes, class names)}`` of a COCO annotation file."""
    with open(ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    cats = {c['id']: c['name'] for c in coco['categories']}
    out = {osp.basename(im['file_name']): (np.zeros((0, 4), np.float32), [])
           for im in coco['images']}
    names = {im['id']: osp.basename(im['file_name']) for im in coco['images']}
    for a in coco['annotations']:
        boxes, labels = out[names[a['image_id']]]
        x, y, w, h = a['bbox']
        out[names[a['image_id']]] = (np.concatenate([boxes, [[x, y, x + w, y + h]]]).astype(
            np.float32), labels + [cats[a['category_id']]])
    return out


def _clear_name(path: str) -> str:
    """The clear image's file name of a clear or foggy val image."""
    name = osp.basename(path)
    if '_foggy_beta_' in name:
        name = name[:name.index('_foggy_beta_')] + '.png'
    return name


def side_by_side_detections(config: str, models: Sequence[Tuple[str, str]],
                            images: Sequence[str], out_dir: str, score_thr: float = 0.3,
                            scale: int = 2, ground_truth: Optional[Dict] = None) -> List[str]:
    """Draw each model's detections (mmdet ``DetLocalVisualizer``) next to each other.

    Args:
        config: an mmdet config all checkpoints fit (the plain student's).
        models: ``[(name, plain checkpoint), ...]``, drawn left to right.
        images: image files; one PNG per image is written to ``out_dir``.
        score_thr: detections below this score are not drawn.
        scale: images are enlarged by this factor before drawing (tiny inputs).
        ground_truth: optional ``{file name: (xyxy boxes, class names)}``
            (:func:`coco_ground_truth`); its boxes of the models' classes are drawn
            as a first panel.
    Returns:
        the PNG paths.
    """
    import cv2
    import mmcv
    import torch
    from mmdet.apis import inference_detector, init_detector
    from mmdet.structures import DetDataSample
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.structures import InstanceData

    detectors = [(name, init_detector(config, ckpt, device='cpu')) for name, ckpt in models]
    meta = detectors[0][1].dataset_meta or {}
    classes = list(meta.get('classes') or [])
    visualizer = DetLocalVisualizer(name=f'side_by_side_{time.time_ns()}')
    visualizer.dataset_meta = dict(classes=classes, palette='random')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in images:
        image = mmcv.imread(path, channel_order='rgb')
        big = cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale),
                         interpolation=cv2.INTER_NEAREST)
        panels = []
        if ground_truth is not None:
            boxes, names = ground_truth.get(_clear_name(path), (np.zeros((0, 4)), []))
            keep = [i for i, n in enumerate(names) if n in classes]
            gt = DetDataSample()
            gt.gt_instances = InstanceData(
                bboxes=torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4)[keep]
                                       * scale),
                labels=torch.as_tensor([classes.index(names[i]) for i in keep],
                                       dtype=torch.long))
            visualizer.add_datasample('gt', big, data_sample=gt, draw_gt=True, draw_pred=False,
                                      show=False)
            panels.append(_label(visualizer.get_image(), f'ground truth: {len(keep)} objects'))
        for name, model in detectors:
            result = inference_detector(model, path)
            result.pred_instances.bboxes = result.pred_instances.bboxes * scale
            if 'masks' in result.pred_instances:  # boxes only (the metric is box AP50)
                del result.pred_instances.masks
            visualizer.add_datasample(name, big, data_sample=result, draw_gt=False,
                                      pred_score_thr=score_thr, show=False)
            n = int((result.pred_instances.scores >= score_thr).sum())
            panels.append(_label(visualizer.get_image(), f'{name}: {n} boxes >= {score_thr}'))
        gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
        row = panels[0]
        for panel in panels[1:]:
            row = np.concatenate([row, gap, panel], axis=1)
        out = osp.join(out_dir, osp.splitext(osp.basename(path))[0] + '_detections.png')
        cv2.imwrite(out, row[..., ::-1])
        written.append(out)
    return written


def plot_prototype_usage(procd_summary: dict, out_file: str) -> str:
    """Bar charts of the arg-max prototype histograms of the ProC-KD runs.

    One panel per split and P5 (teacher / student), one bar group per seed; the
    title of a panel gives per seed how many of the n prototypes are the arg-max
    somewhere and the entropy of that histogram (bits; ``log2 n`` is all used equally).
    """
    plt = _pyplot()
    panels = [(domain, path) for domain in ('clear', 'foggy')
              for path in ('teacher', 'student')
              if path in procd_summary.get(domain, {}).get('prototypes', {})]
    if not panels:
        raise ValueError('no prototype usage in the summary')
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (domain, path) in zip(axes[0], panels):
        usage = procd_summary[domain]['prototypes'][path]
        seeds = list(usage['seeds'])
        n = usage['n']
        width = 0.8 / max(1, len(seeds))
        for k, seed in enumerate(seeds):
            u = usage['seeds'][seed]
            share = np.asarray(u['histogram'], np.float64) / max(1, u['positions'])
            ax.bar(np.arange(n) + (k - (len(seeds) - 1) / 2) * width, share, width,
                   label=f'seed {seed}: {u["used"]}/{n}, H={u["entropy_bits"]:.2f} bits')
        ax.set_title(f'{path} P5, {domain} val (max H = {math.log2(n):.0f} bits)', fontsize=9)
        ax.set_xlabel('prototype', fontsize=8)
        ax.set_ylabel('share of positions (arg-max)', fontsize=8)
        ax.set_xticks(range(n))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5)
        ax.grid(alpha=0.3, axis='y')
    fig.suptitle('ProC-KD prototype usage: arg-max prototype over every P5 position of the '
                 'val images', fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=80)
    plt.close(fig)
    return out_file

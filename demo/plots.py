"""Loss curves from mmengine JSON logs and side-by-side detections (PNG)."""
import json
import math
import os
import os.path as osp
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np


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
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
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


def side_by_side_detections(config: str, models: Sequence[Tuple[str, str]],
                            images: Sequence[str], out_dir: str, score_thr: float = 0.3,
                            scale: int = 2) -> List[str]:
    """Draw each model's detections (mmdet ``DetLocalVisualizer``) next to each other.

    Args:
        config: an mmdet config all checkpoints fit (the plain student's).
        models: ``[(name, plain checkpoint), ...]``, drawn left to right.
        images: image files; one PNG per image is written to ``out_dir``.
        score_thr: detections below this score are not drawn.
        scale: images are enlarged by this factor before drawing (tiny inputs).
    Returns:
        the PNG paths.
    """
    import cv2
    import mmcv
    from mmdet.apis import inference_detector, init_detector
    from mmdet.visualization import DetLocalVisualizer

    detectors = [(name, init_detector(config, ckpt, device='cpu')) for name, ckpt in models]
    meta = detectors[0][1].dataset_meta or {}
    visualizer = DetLocalVisualizer(name=f'side_by_side_{time.time_ns()}')
    visualizer.dataset_meta = dict(classes=meta.get('classes'), palette='random')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in images:
        image = mmcv.imread(path, channel_order='rgb')
        panels = []
        for name, model in detectors:
            result = inference_detector(model, path)
            big = cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale),
                             interpolation=cv2.INTER_NEAREST)
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

"""Prototype assignment maps of a ProC-KD checkpoint on teacher and student P5.

For an image, the teacher's level ``teacher_level`` and the student's level of the same
stride (``level``) of the model's :class:`PrototypeBranch` go through the same
``PrototypeLearning.assign`` (paper Eq. 1; the prototypes live in the teacher's
feature space): ``A = assign(P5) ∈ [B, n, HW]``. Where the student's level is
narrower or wider than the teacher's (docs/method.md, "Teacher and student that
differ"), Eq. 1 is not defined on it and only the teacher's row is drawn.
The *assignment map* is ``argmax_n A`` (one colour per prototype); the heat
maps show ``A`` of the few prototypes with the largest total assignment mass.
"""
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.config import Config

from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import (
    check_fits,
    is_distiller_state,
    read_checkpoint,
    state_dict_of,
)


def load_procd(cfg: Config, checkpoint: str, device: str = 'cpu'):
    """Build the ProCKD model of ``cfg`` and load every weight (teacher included).

    The teacher's weights come from the distiller checkpoint itself, so the
    config's ``teacher_ckpt`` is not read. A checkpoint that does not fit the distiller
    (a plain or exported student, another config's distiller) is an :class:`InputError`
    naming it; it is read, and a plain one refused, before the model is built.
    """
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    from mmrazor.registry import MODELS

    import procd_mm  # noqa: F401
    saved = read_checkpoint(checkpoint)
    state = state_dict_of(saved, checkpoint)
    if not is_distiller_state(state):
        raise InputError(f'checkpoint {checkpoint} holds a plain detector\'s weights (no '
                         'architecture.*/teacher.* keys); the maps need the ProC-KD training '
                         'checkpoint, which holds the teacher and the prototypes')
    model_cfg = cfg.model.copy()
    model_cfg.teacher_ckpt = None
    model_cfg.teacher_strict = False
    model = MODELS.build(model_cfg)
    if getattr(model, 'prototype_branch', None) is None:
        raise InputError(f'{cfg.filename}: the model has no prototype branch (model.lambda_pro '
                         'is 0 or it is not a ProCKD model); there are no prototypes to draw')
    check_fits(model, checkpoint, cfg.filename, 'checkpoint', saved)
    _load_checkpoint_to_model(model, state, strict=True)
    model.to(device).eval()
    return model, cfg


def _test_pipeline(cfg: Config):
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    steps = [dict(t) for t in cfg.test_dataloader.dataset.pipeline
             if t['type'] != 'LoadAnnotations']
    return Compose(steps)


@torch.no_grad()
def prototype_maps(model, cfg: Config, image: str) -> Dict[str, dict]:
    """Soft and hard assignment of teacher and student P5 for one image.

    Returns ``{'teacher'|'student': {'assign': [n, h, w] float array,
    'argmax': [h, w] int array}}`` plus ``'meta'`` (``img_shape``,
    ``pad_shape``, ``ori_shape`` and the feature size); no ``'student'`` where
    its level's width is not the prototypes'.
    """
    data = _test_pipeline(cfg)(dict(img_path=image, img_id=0))
    batch = model.data_preprocessor(dict(inputs=[data['inputs']],
                                         data_samples=[data['data_samples']]), False)
    inputs = batch['inputs']
    out = {}
    for name, det, level, det_inputs in (
            ('teacher', model.teacher, model.prototype_branch.teacher_level,
             model.teacher_input(inputs, batch['data_samples'])),
            ('student', model.student, model.prototype_branch.level, inputs)):
        feat = det.extract_feat(det_inputs)[level]
        if feat.shape[1] != model.prototype_branch.prototype_learning.in_channels:
            continue
        assign = model.prototype_branch.prototype_learning.assign(feat)  # [1, n, HW]
        h, w = feat.shape[-2:]
        soft = assign[0].reshape(-1, h, w).cpu().numpy()
        out[name] = dict(assign=soft, argmax=soft.argmax(axis=0))
    sample = batch['data_samples'][0]
    out['meta'] = dict(img_shape=tuple(sample.img_shape), pad_shape=tuple(inputs.shape[-2:]),
                       ori_shape=tuple(sample.ori_shape), feat_shape=(h, w))
    return out


def _to_image(grid: np.ndarray, meta: dict, interpolation) -> np.ndarray:
    """Map a feature-grid array onto the original image (crop the padding, resize)."""
    import cv2
    ph, pw = meta['pad_shape']
    ih, iw = meta['img_shape']
    oh, ow = meta['ori_shape']
    up = cv2.resize(grid.astype(np.float32), (pw, ph), interpolation=interpolation)
    return cv2.resize(up[:ih, :iw], (ow, oh), interpolation=interpolation)


def palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours in [0, 1] (one per prototype)."""
    import matplotlib
    cmap = matplotlib.colormaps['tab20' if n <= 20 else 'hsv']
    return np.array([cmap(i / max(1, n) if n > 20 else i)[:3] for i in range(n)])


def draw(image: str, maps: Dict[str, dict], out_file: str, top_k: int = 3,
         alpha: float = 0.55) -> str:
    """Figure: rows teacher / student (where ``maps`` has it); image, argmax map overlay,
    top-k heat maps."""
    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rgb = cv2.imread(image, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    meta = maps['meta']
    n = maps['teacher']['assign'].shape[0]
    colours = palette(n)
    rows = [name for name in ('teacher', 'student') if name in maps]
    fig, axes = plt.subplots(len(rows), 2 + top_k, figsize=(3.2 * (2 + top_k), 2.0 * len(rows)),
                             squeeze=False)
    for row, name in enumerate(rows):
        soft, hard = maps[name]['assign'], maps[name]['argmax']
        hard_img = _to_image(hard, meta, cv2.INTER_NEAREST).astype(int)
        axes[row, 0].imshow(rgb)
        axes[row, 0].set_title(f'{name} input', fontsize=8)
        axes[row, 1].imshow((1 - alpha) * rgb + alpha * colours[hard_img])
        used = len(np.unique(hard))
        axes[row, 1].set_title(f'{name} P5 argmax ({used}/{n} used)', fontsize=8)
        mass = soft.reshape(n, -1).sum(axis=1)
        for col, idx in enumerate(np.argsort(-mass)[:top_k]):
            heat = _to_image(soft[idx], meta, cv2.INTER_LINEAR)
            ax = axes[row, 2 + col]
            ax.imshow(rgb)
            ax.imshow(heat, cmap='jet', alpha=alpha, vmin=0.0, vmax=max(1e-6, soft.max()))
            ax.set_title(f'{name} prototype {idx} (mass {mass[idx] / mass.sum():.0%})',
                         fontsize=8)
    for ax in axes.flat:
        ax.axis('off')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=90)
    plt.close(fig)
    return out_file


def visualize(config: Config, checkpoint: str, images: Sequence[str], out_dir: str,
              top_k: int = 3, device: str = 'cpu') -> List[str]:
    """Write ``<stem>_prototypes.png`` and ``<stem>_prototypes.npz`` per image; return PNGs."""
    model, cfg = load_procd(config, checkpoint, device)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for image in images:
        maps = prototype_maps(model, cfg, image)
        stem = osp.join(out_dir, osp.splitext(osp.basename(image))[0] + '_prototypes')
        np.savez(stem + '.npz', **{f'{k}_{v}': maps[k][v] for k in ('teacher', 'student')
                                   if k in maps for v in ('assign', 'argmax')})
        written.append(draw(image, maps, stem + '.png', top_k))
    return written

"""Foggy Cityscapes-style fog synthesis (Sakaridis et al., IJCV 2018).

A clear image ``R`` becomes ``I = R * t + L * (1 - t)`` with transmission
``t = exp(-beta * l)``, where ``l`` is the distance from the camera along each
pixel's ray (from the stereo disparity and the camera JSON), ``L`` the
atmospheric light estimated with the dark channel prior, and ``t`` smoothed by
a guided filter that uses the clear image as guide.
"""
import glob
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from ..foggy_cityscapes import CLEAR_SUFFIX, check_beta, foggy_file_name

#: Depth (m) given to sky-like pixels without disparity.
SKY_DEPTH = 1000.0


def disparity_to_depth(disparity_png: np.ndarray, baseline: float, fx: float) -> np.ndarray:
    """Depth (m) from a Cityscapes disparity PNG (``p = d * 256 + 1``).

    Pixels with ``p <= 1`` (no or zero disparity) are invalid and get NaN.
    """
    disp = (disparity_png.astype(np.float64) - 1.0) / 256.0
    with np.errstate(divide='ignore'):
        return np.where(disp > 0, baseline * fx / np.maximum(disp, 1e-12), np.nan)


def fill_invalid_depth(depth: np.ndarray, sky_depth: float = SKY_DEPTH) -> np.ndarray:
    """Replace NaN depths so that no pixel is left without a distance.

    Sky-like pixels, i.e. in every column the invalid pixels above its first
    valid one, are set to ``sky_depth`` (far away, so they turn into
    atmospheric light).  Every other invalid pixel (stereo failures, occlusion
    borders, columns without any valid pixel) takes the depth of the nearest
    valid or sky-like pixel (Euclidean distance transform).  Finite depths are
    capped at ``sky_depth``; an image without any valid pixel is all sky.
    """
    depth = np.minimum(depth, sky_depth)
    invalid = np.isnan(depth)
    has_valid = ~invalid.all(axis=0)
    first_valid = np.argmax(~invalid, axis=0)
    sky = (np.arange(depth.shape[0])[:, None] < first_valid[None, :]) & has_valid[None, :]
    filled = np.where(sky, sky_depth, depth)
    unknown = np.isnan(filled)
    if unknown.all():
        return np.full(depth.shape, sky_depth)
    if unknown.any():
        _, labels = cv2.distanceTransformWithLabels(
            unknown.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        known = ~unknown
        values = np.zeros(labels.max() + 1)
        values[labels[known]] = filled[known]
        filled = np.where(unknown, values[labels], filled)
    return filled


def distance_along_ray(depth: np.ndarray, fx: float, u0: float, v0: float) -> np.ndarray:
    """Distance from the camera centre to each pixel's 3-D point.

    ``l = depth * sqrt(fx^2 + (u - u0)^2 + (v - v0)^2) / fx`` for pixel column
    ``u`` and row ``v`` (square pixels assumed, as in Foggy Cityscapes).
    """
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]]
    return depth * np.sqrt(fx ** 2 + (u - u0) ** 2 + (v - v0) ** 2) / fx


def transmission(distance: np.ndarray, beta: float) -> np.ndarray:
    """Koschmieder transmission ``t = exp(-beta * distance)``."""
    return np.exp(-beta * distance)


def dark_channel(image: np.ndarray, window: int = 15) -> np.ndarray:
    """Minimum over colour channels and a ``window x window`` neighbourhood."""
    kernel = np.ones((window, window), np.uint8)
    return cv2.erode(image.min(axis=2).astype(np.float32), kernel,
                     borderType=cv2.BORDER_REFLECT)


def atmospheric_light(image: np.ndarray, window: int = 15,
                      top_fraction: float = 0.001) -> np.ndarray:
    """Atmospheric light of an ``HxWx3`` image in ``[0, 1]`` (dark channel prior).

    Among the ``top_fraction`` of pixels with the brightest dark channel, the
    colour of the one with median intensity (mean over channels) is returned.
    """
    dark = dark_channel(image, window).ravel()
    count = max(1, int(np.ceil(top_fraction * dark.size)))
    top = np.argpartition(dark, dark.size - count)[dark.size - count:]
    colours = image.reshape(-1, 3)[top]
    median = np.argsort(colours.mean(axis=1), kind='stable')[(count - 1) // 2]
    return colours[median].astype(np.float64)


def _box(x: np.ndarray, window: int) -> np.ndarray:
    return cv2.boxFilter(x, cv2.CV_64F, (window, window), borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, window: int = 41,
                  eps: float = 1e-3) -> np.ndarray:
    """He et al.'s guided filter of ``src`` (``HxW``) with a gray or colour guide.

    Args:
        guide: ``HxW`` or ``HxWx3`` image in ``[0, 1]``.
        src: the ``HxW`` map to filter.
        window: side of the square box window (``2 * radius + 1``).
        eps: regularisation of the local linear model.
    """
    src = src.astype(np.float64)
    guide = guide.astype(np.float64)
    mean_p = _box(src, window)
    if guide.ndim == 2:
        mean_i = _box(guide, window)
        a = (_box(guide * src, window) - mean_i * mean_p) / (
            _box(guide * guide, window) - mean_i ** 2 + eps)
        b = mean_p - a * mean_i
        return _box(a, window) * guide + _box(b, window)
    mean_i = np.stack([_box(guide[..., c], window) for c in range(3)], axis=-1)
    cov_ip = np.stack([_box(guide[..., c] * src, window) for c in range(3)], axis=-1) \
        - mean_i * mean_p[..., None]
    sigma = np.empty(src.shape + (3, 3))
    for i in range(3):
        for j in range(i, 3):
            sigma[..., i, j] = sigma[..., j, i] = _box(guide[..., i] * guide[..., j], window) \
                - mean_i[..., i] * mean_i[..., j]
    a = np.linalg.solve(sigma + eps * np.eye(3), cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=-1)
    mean_a = np.stack([_box(a[..., c], window) for c in range(3)], axis=-1)
    return (mean_a * guide).sum(axis=-1) + _box(b, window)


def foggify(clear: np.ndarray, distance: np.ndarray, beta: float,
            light: Optional[np.ndarray] = None, window: int = 41,
            eps: float = 1e-3) -> np.ndarray:
    """Add homogeneous fog of attenuation ``beta`` (1/m) to an RGB ``uint8`` image.

    Args:
        clear: ``HxWx3`` ``uint8`` clear image ``R``.
        distance: ``HxW`` distance along the ray (m), finite everywhere.
        beta: attenuation coefficient; 0 returns the clear image.
        light: atmospheric light ``L`` (3 values in ``[0, 1]``); estimated with
            :func:`atmospheric_light` if ``None``.
        window, eps: guided filter parameters for the transmission.

    Returns:
        ``HxWx3`` ``uint8`` foggy image ``R * t + L * (1 - t)``.
    """
    image = clear.astype(np.float64) / 255.0
    if light is None:
        light = atmospheric_light(image)
    t = np.clip(guided_filter(image, transmission(distance, beta), window, eps), 0.0, 1.0)
    foggy = image * t[..., None] + np.asarray(light) * (1.0 - t[..., None])
    return np.clip(np.round(foggy * 255.0), 0, 255).astype(np.uint8)


def read_camera(path: str) -> Tuple[float, float, float, float]:
    """``(baseline, fx, u0, v0)`` from a Cityscapes ``camera.json``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'missing Cityscapes camera file: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            cam = json.load(f)
        return (float(cam['extrinsic']['baseline']), float(cam['intrinsic']['fx']),
                float(cam['intrinsic']['u0']), float(cam['intrinsic']['v0']))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f'corrupt Cityscapes camera file {path}: {err!r}') from None


def _read_png(path: str, flags: int) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'missing file: {path}')
    img = cv2.imread(path, flags)
    if img is None:
        raise ValueError(f'unreadable image: {path}')
    return img


def foggify_frame(image_path: str, disparity_path: str, camera_path: str,
                  beta: float) -> np.ndarray:
    """Foggy RGB ``uint8`` version of one Cityscapes frame given its three files."""
    clear = _read_png(image_path, cv2.IMREAD_COLOR)[..., ::-1]
    disparity = _read_png(disparity_path, cv2.IMREAD_UNCHANGED)
    if disparity.shape != clear.shape[:2]:
        raise ValueError(f'{disparity_path} is {disparity.shape}, its image is '
                         f'{clear.shape[:2]}')
    baseline, fx, u0, v0 = read_camera(camera_path)
    depth = fill_invalid_depth(disparity_to_depth(disparity, baseline, fx))
    return foggify(clear, distance_along_ray(depth, fx, u0, v0), beta)


def _frame_job(job: Tuple[str, str, str, str, float]) -> str:
    image_path, disparity_path, camera_path, out_path, beta = job
    foggy = foggify_frame(image_path, disparity_path, camera_path, beta)
    os.makedirs(osp.dirname(out_path), exist_ok=True)
    cv2.imwrite(out_path, foggy[..., ::-1])
    return out_path


def _collect_jobs(root: str, split: str, out_dir: str, beta: float) -> List[tuple]:
    img_dir = osp.join(root, 'leftImg8bit', split)
    images = sorted(glob.glob(osp.join(img_dir, '*', '*' + CLEAR_SUFFIX)))
    if not images:
        raise FileNotFoundError(f'no *{CLEAR_SUFFIX} images found under {img_dir}')
    jobs = []
    for img in images:
        rel = osp.relpath(img, img_dir)
        stem = rel[:-len(CLEAR_SUFFIX)]
        jobs.append((img, osp.join(root, 'disparity', split, stem + '_disparity.png'),
                     osp.join(root, 'camera', split, stem + '_camera.json'),
                     osp.join(out_dir, split, foggy_file_name(rel, beta)), beta))
    return jobs


def foggify_cityscapes(cityscapes_root: str, beta: float = 0.02,
                       out_dir: Optional[str] = None,
                       splits: Sequence[str] = ('train', 'val'),
                       nproc: int = 1) -> Dict[str, List[str]]:
    """Write Foggy Cityscapes images for a Cityscapes tree.

    Reads ``leftImg8bit``, ``disparity`` and ``camera`` of each split and
    writes ``<out_dir>/<split>/<city>/<name>_leftImg8bit_foggy_beta_<beta>.png``
    (``out_dir`` defaults to ``<root>/leftImg8bit_foggy``), in a pool of
    ``nproc`` processes with mmengine's progress bar. The inputs of every split are
    collected (and a missing split reported) before anything is written.

    Returns:
        ``{split: [written paths]}``.
    """
    check_beta(beta)
    if nproc < 1:
        raise ValueError(f'nproc must be >= 1, got {nproc}')
    out_dir = out_dir or osp.join(cityscapes_root, 'leftImg8bit_foggy')
    # every split's inputs are found before any image is written
    jobs = {split: _collect_jobs(cityscapes_root, split, out_dir, beta) for split in splits}
    written = {}
    for split in splits:
        written[split] = (track_parallel_progress(_frame_job, jobs[split], nproc=nproc)
                          if nproc > 1 else track_progress(_frame_job, jobs[split]))
    return written

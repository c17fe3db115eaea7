"""Deterministic synthetic dataset in the official Cityscapes file layout.

Each image is a flat-world street scene seen by a Cityscapes-like stereo camera
(intrinsics scaled to the image size): sky, a skyline of buildings at a fixed
distance and a road plane whose depth grows toward the horizon.  The 8
Cityscapes instance classes stand on the road; each has its own outline,
colour and details, and its size follows perspective (objects nearer the
horizon are farther and smaller).  Objects never overlap, so every drawn
object is fully visible and the ground truth returned by
:func:`generate_synthetic_cityscapes` is exact.  A :class:`SceneDomain` changes the
look (classes drawn, colour noise, background, object scale, texture, camera height).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import name2label

from .cityscapes_to_coco import convert_cityscapes
from .scene_domain import CITYSCAPES_LIKE, SceneDomain

#: Cityscapes camera of a 2048x1024 frame (values of a real ``camera.json``).
BASE_CAMERA = dict(
    extrinsic=dict(baseline=0.209313, pitch=0.0, roll=0.0, x=1.7, y=0.1, yaw=0.0, z=1.22),
    intrinsic=dict(fx=2262.52, fy=2265.3017905988554, u0=1096.98, v0=513.137))
BASE_SIZE = (1024, 2048)  # (height, width) the intrinsics above belong to

# Per class: (height m, width m), RGB colour, outline in unit box coordinates
# (x right, y down), wheel centres (x) or None, horizontal band (y0, y1, RGB).
_OBJECT_STYLES = {
    'person': ((1.75, 0.6), (200, 30, 40),
               [(.35, 0), (.65, 0), (.7, .09), (.62, .18), (1, .24), (1, .6), (.85, .6),
                (.85, 1), (.57, 1), (.5, .65), (.43, 1), (.15, 1), (.15, .6), (0, .6),
                (0, .24), (.38, .18), (.3, .09)], None, (0.0, 0.17, (230, 190, 160))),
    'rider': ((1.85, 1.0), (240, 140, 20),
              [(.4, 0), (.6, 0), (.65, .08), (.6, .15), (.75, .18), (.8, .5), (1, .5), (1, 1),
               (0, 1), (0, .55), (.3, .5), (.3, .18), (.4, .15), (.35, .08)],
              (.2, .8), (0.0, 0.14, (230, 190, 160))),
    'car': ((1.5, 3.6), (30, 60, 200),
            [(0, .45), (.2, .42), (.3, .05), (.72, .05), (.85, .42), (1, .5), (1, .85),
             (.9, .85), (.88, 1), (.7, 1), (.68, .85), (.32, .85), (.3, 1), (.12, 1), (.1, .85),
             (0, .85)], (.21, .79), (0.12, 0.38, (170, 210, 240))),
    'truck': ((3.0, 5.5), (40, 150, 50),
              [(0, 0), (.7, 0), (.7, .3), (.9, .3), (1, .5), (1, .88), (.9, .88), (.88, 1),
               (.74, 1), (.72, .88), (.3, .88), (.28, 1), (.1, 1), (.08, .88), (0, .88)],
              (.19, .81), (0.55, 0.65, (240, 240, 240))),
    'bus': ((3.2, 7.5), (235, 200, 30),
            [(0, .05), (.03, 0), (.97, 0), (1, .05), (1, .9), (.88, .9), (.86, 1), (.72, 1),
             (.7, .9), (.3, .9), (.28, 1), (.14, 1), (.12, .9), (0, .9)],
            (.21, .79), (0.15, 0.45, (50, 50, 60))),
    'train': ((3.8, 9.0), (150, 50, 170),
              [(0, .1), (.05, 0), (.88, 0), (1, .35), (1, .95), (.9, .95), (.9, 1), (.6, 1),
               (.6, .95), (.4, .95), (.4, 1), (.1, 1), (.1, .95), (0, .95)],
              None, (0.2, 0.4, (245, 245, 245))),
    'motorcycle': ((1.2, 1.9), (20, 200, 200),
                   [(0, .55), (.25, .35), (.45, .4), (.55, .1), (.75, 0), (.8, .15), (.7, .35),
                    (1, .5), (1, 1), (.72, 1), (.62, .7), (.38, .7), (.28, 1), (0, 1)],
                   (.15, .85), None),
    'bicycle': ((1.1, 1.7), (225, 225, 225),
                [(0, .5), (.2, .45), (.3, .15), (.25, .05), (.45, .05), (.42, .15), (.75, .2),
                 (.72, 0), (.82, 0), (.85, .45), (1, .5), (1, 1), (.65, 1), (.5, .7), (.35, 1),
                 (0, 1)], (.18, .82), None),
}


def scaled_camera(height: int, width: int,
                  camera_height: float = BASE_CAMERA['extrinsic']['z']) -> dict:
    """Cityscapes camera dict with intrinsics scaled to a ``height x width`` image, the
    camera ``camera_height`` metres above the road."""
    sy, sx = height / BASE_SIZE[0], width / BASE_SIZE[1]
    intr = BASE_CAMERA['intrinsic']
    return dict(extrinsic=dict(BASE_CAMERA['extrinsic'], z=camera_height),
                intrinsic=dict(fx=intr['fx'] * sx, fy=intr['fy'] * sy,
                               u0=intr['u0'] * sx, v0=intr['v0'] * sy))


class _Canvas:
    """The rasters of one image, filled polygon by polygon."""

    def __init__(self, height: int, width: int):
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.label_ids = np.zeros((height, width), np.uint8)
        self.instance_ids = np.zeros((height, width), np.uint16)
        self.disparity = np.zeros((height, width), np.float32)  # 0 = invalid
        self.objects: List[dict] = []

    def add(self, label: str, polygon: np.ndarray, inst_id: int = None) -> np.ndarray:
        """Record a polygon, write its label/instance ids and return its mask."""
        mask = np.zeros(self.label_ids.shape, np.uint8)
        cv2.fillPoly(mask, [polygon.astype(np.int32)], 1)
        mask = mask.astype(bool)
        self.label_ids[mask] = name2label[label].id
        self.instance_ids[mask] = name2label[label].id if inst_id is None else inst_id
        self.objects.append(dict(label=label, polygon=polygon.astype(int).tolist()))
        return mask


def _draw_background(rng: np.random.Generator, canvas: _Canvas, cam: dict,
                     domain: SceneDomain) -> int:
    """Draw sky, buildings (unless the domain has none), road and sidewalks; return the
    road's first row.

    The sky has no disparity (invalid, as often in real Cityscapes), the
    buildings share one depth and the road's disparity grows linearly with the
    row below the horizon ``v0``.
    """
    h, w = canvas.label_ids.shape
    fx, fy, v0 = cam['intrinsic']['fx'], cam['intrinsic']['fy'], cam['intrinsic']['v0']
    baseline, cam_h = cam['extrinsic']['baseline'], cam['extrinsic']['z']
    build_depth = rng.uniform(60.0, 90.0)
    base = int(np.ceil(v0 + cam_h * fy / build_depth))

    sky = canvas.add('sky', np.array([(0, 0), (w - 1, 0), (w - 1, base - 1), (0, base - 1)]))
    grad = np.linspace(0.0, 1.0, h)[:, None, None]
    sky_rgb = (1 - grad) * np.array(domain.sky[0]) + grad * np.array(domain.sky[1])
    canvas.rgb[sky] = np.broadcast_to(sky_rgb, canvas.rgb.shape)[sky]

    road = canvas.add('road', np.array([(0, base), (w - 1, base), (w - 1, h - 1), (0, h - 1)]))
    canvas.rgb[road] = domain.road
    rows = np.arange(h, dtype=np.float32)[:, None]
    road_disp = np.broadcast_to(baseline * fx * (rows - v0) / (cam_h * fy), (h, w))
    canvas.disparity[road] = road_disp[road]
    for x_edge, x_far in ((0, 0.3 * w), (w - 1, 0.7 * w)):
        walk = canvas.add('sidewalk', np.array([(x_edge, base + 1), (x_far, base + 1),
                                                (x_edge, h - 1)]))
        canvas.rgb[walk] = domain.sidewalk
    dash = (np.abs(np.arange(w) - w / 2) < max(1, w // 128))[None, :] & \
        ((rows.astype(int) // 4) % 2 == 0) & road
    canvas.rgb[dash] = (235, 235, 235)
    if domain.building is None:
        return base

    x, skyline, blocks = 0, [(0, base)], []
    while x < w - 1:
        x_next = min(w - 1, x + int(rng.integers(w // 16, w // 5)))
        top = int(rng.integers(int(0.1 * h), max(int(0.1 * h) + 1, int(v0 - 0.08 * h))))
        skyline += [(x, top), (x_next, top)]
        blocks.append((x, x_next, rng.uniform(0.6, 1.0)))
        x = x_next + 1
    skyline.append((w - 1, base))
    build = canvas.add('building', np.array(skyline))
    for xa, xb, tone in blocks:
        block = build.copy()
        block[:, :xa] = False
        block[:, xb + 1:] = False
        canvas.rgb[block] = np.array(domain.building) * tone
    windows = ((rows.astype(int) % 6) < 2) & ((np.arange(w)[None, :] % 7) < 3) & build
    canvas.rgb[windows] *= 0.55
    canvas.disparity[build] = baseline * fx / build_depth
    return base


def _object_polygon(style, x0: float, bottom: float, scale: float, flip: bool) -> np.ndarray:
    """Outline of one object of ``style`` with bottom-left corner ``(x0, bottom)``."""
    (h_m, w_m), _, outline, _, _ = style
    unit = np.array(outline, np.float64)
    if flip:
        unit[:, 0] = 1.0 - unit[:, 0]
    w_px, h_px = w_m * scale, h_m * scale
    return np.round(np.stack([x0 + unit[:, 0] * w_px,
                              bottom - h_px + unit[:, 1] * h_px], axis=1))


def _paint_object(rng, canvas: _Canvas, style, mask: np.ndarray, box, flip: bool,
                  domain: SceneDomain) -> None:
    """Fill an object mask with its class colour (with the domain's colour noise, striped
    if the domain says so), band and wheels."""
    _, colour, _, wheels, band = style
    x0, y0, x1, y1 = box
    canvas.rgb[mask] = np.clip(np.array(colour)
                               + rng.normal(0, domain.colour_jitter, 3), 0, 255)
    if domain.stripes:
        rows = np.arange(canvas.rgb.shape[0]) - int(y0)
        dark = ((rows // domain.stripe_px) % 2 == 1)[:, None] & mask
        canvas.rgb[dark] *= 1.0 - domain.stripes
    ys = (np.arange(canvas.rgb.shape[0]) - y0) / max(1, y1 - y0)
    if band is not None:
        in_band = ((ys >= band[0]) & (ys <= band[1]))[:, None] & mask
        canvas.rgb[in_band] = band[2]
    if wheels is not None:
        radius = max(1, int(round(0.13 * (y1 - y0))))
        wheel_mask = np.zeros(mask.shape, np.uint8)
        for cx in wheels:
            cx = 1.0 - cx if flip else cx
            centre = (int(round(x0 + cx * (x1 - x0))), int(round(y1 - radius)))
            cv2.circle(wheel_mask, centre, radius, 1, -1)
        canvas.rgb[wheel_mask.astype(bool) & mask] = (25, 25, 25)


def _scale_range(cls: str, height: int, cam: dict, road_top: int,
                 scale: float = 1.0) -> Tuple[float, float]:
    """Smallest and largest allowed scale (pixels per metre) of a ``cls`` object.

    The object must be at least ``scale * max(8, 0.09 * height)`` pixels tall, stand on
    the road below the buildings and at most 45 % of the image tall.
    """
    h_m = _OBJECT_STYLES[cls][0][0]
    v0, cam_h = cam['intrinsic']['v0'], cam['extrinsic']['z']
    s_min = max(scale * max(8.0, 0.09 * height) / h_m, (road_top + 1 - v0) / cam_h)
    s_max = min(0.45 * height / h_m, (height - 1 - v0) / cam_h)
    return s_min, max(s_min, s_max)


def _layout(rng, required: Sequence[str], count: int, width: int, height: int, cam: dict,
            road_top: int, domain: SceneDomain) -> List[Tuple[str, float, float]]:
    """Choose ``(class, x0, scale)`` per object in disjoint horizontal slots.

    The ``required`` classes come first; random classes are added up to
    ``count`` objects (of the domain's classes) while their smallest allowed size
    still fits.  Every
    object gets a slot at least as wide as its smallest size plus a margin;
    the remaining width is shared at random, so objects never overlap.
    """
    margin = 3

    def scale_range(cls: str) -> Tuple[float, float]:
        return _scale_range(cls, height, cam, road_top, domain.scale)

    def min_width(cls: str) -> float:
        return _OBJECT_STYLES[cls][0][1] * scale_range(cls)[0] + margin

    classes = list(required)
    surplus = width - 2 - sum(min_width(c) for c in classes)
    if surplus < 0:
        raise ValueError(f'{len(classes)} objects ({", ".join(classes)}) do not fit side by '
                         f'side in a {height}x{width} image; lower max_objects or enlarge it')
    while len(classes) < count:
        fitting = [c for c in domain.classes if min_width(c) <= surplus]
        if not fitting:
            break
        classes.append(fitting[int(rng.integers(len(fitting)))])
        surplus -= min_width(classes[-1])
    ranges = [scale_range(c) for c in classes]
    min_w = np.array([min_width(c) for c in classes])
    slots = min_w + surplus * rng.dirichlet(np.ones(len(classes)))
    order = rng.permutation(len(classes))
    left = 1 + np.concatenate([[0], np.cumsum(slots[order])[:-1]])
    placed = []
    for slot_x, i in zip(left, order):
        w_m = _OBJECT_STYLES[classes[i]][0][1]
        s_min, s_max = ranges[i]
        s_max = max(s_min, min(s_max, (slots[i] - margin) / w_m))
        scale = s_min * (s_max / s_min) ** rng.uniform()
        x0 = slot_x + rng.uniform(0, slots[i] - margin - w_m * scale)
        placed.append((classes[i], float(x0), float(scale)))
    return sorted(placed, key=lambda p: p[2])  # far (small) to near


def _draw_object(rng, canvas: _Canvas, cls: str, x0: float, scale: float, inst_id: int,
                 cam: dict, domain: SceneDomain) -> dict:
    """Draw one object standing on the road; return its ground truth."""
    style = _OBJECT_STYLES[cls]
    flip = bool(rng.integers(2))
    bottom = cam['intrinsic']['v0'] + scale * cam['extrinsic']['z']
    poly = _object_polygon(style, x0, bottom, scale, flip)
    mask = canvas.add(cls, poly, inst_id)
    _paint_object(rng, canvas, style, mask, (*poly.min(axis=0), *poly.max(axis=0)), flip,
                  domain)
    intr = cam['intrinsic']
    canvas.disparity[mask] = cam['extrinsic']['baseline'] * intr['fx'] * scale / intr['fy']
    ys, xs = np.nonzero(mask)
    return dict(label=cls, bbox=[int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                 int(ys.max() - ys.min() + 1)],
                area=int(mask.sum()), depth=float(intr['fy'] / scale))


def _render_image(rng, height: int, width: int, required: Sequence[str], count: int,
                  cam: dict, domain: SceneDomain):
    """Draw one image with ``count`` objects including ``required``; return canvas and GT."""
    canvas = _Canvas(height, width)
    road_top = _draw_background(rng, canvas, cam, domain)
    counters, instances = {}, []
    for cls, x0, scale in _layout(rng, required, count, width, height, cam, road_top,
                                  domain):
        inst_id = name2label[cls].id * 1000 + counters.get(cls, 0)
        counters[cls] = counters.get(cls, 0) + 1
        instances.append(_draw_object(rng, canvas, cls, x0, scale, inst_id, cam, domain))
    road = canvas.label_ids == name2label['road'].id
    holes = road & (rng.uniform(size=road.shape) < 0.003)  # sparse stereo failures
    canvas.disparity[holes] = 0.0
    canvas.rgb += rng.normal(0.0, 6.0, canvas.rgb.shape)
    return canvas, instances


def _write_json(path: str, data: dict) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2, allow_nan=False)


def _write_sample(root: str, split: str, city: str, name: str, canvas: _Canvas,
                  cam: dict) -> None:
    """Write the image, gtFine, disparity and camera files of one frame."""
    h, w = canvas.label_ids.shape
    dirs = {k: osp.join(root, k, split, city)
            for k in ('leftImg8bit', 'gtFine', 'disparity', 'camera')}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    rgb = np.clip(np.round(canvas.rgb), 0, 255).astype(np.uint8)
    cv2.imwrite(osp.join(dirs['leftImg8bit'], f'{name}_leftImg8bit.png'), rgb[..., ::-1])
    gt = osp.join(dirs['gtFine'], name)
    cv2.imwrite(f'{gt}_gtFine_labelIds.png', canvas.label_ids)
    cv2.imwrite(f'{gt}_gtFine_instanceIds.png', canvas.instance_ids)
    _write_json(f'{gt}_gtFine_polygons.json',
                dict(imgHeight=h, imgWidth=w, objects=canvas.objects))
    disp = canvas.disparity
    encoded = np.where(disp > 0, np.round(disp * 256.0) + 1, 0).astype(np.uint16)
    cv2.imwrite(osp.join(dirs['disparity'], f'{name}_disparity.png'), encoded)
    _write_json(osp.join(dirs['camera'], f'{name}_camera.json'), cam)


def _split_classes(rng, num_images: int, min_objects: int, max_objects: int,
                   classes: Sequence[str]) -> List[Tuple[list, int]]:
    """Per image: the classes it must show and its object count.

    The required classes of all images together cover every class once.
    """
    required = [classes[i] for i in rng.permutation(len(classes))]
    return [(required[i::num_images], int(rng.integers(min_objects, max_objects + 1)))
            for i in range(num_images)]


def _check_args(num_train, num_val, height, width, min_objects, max_objects,
                n_cls) -> None:
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train}, {num_val}')
    if height < 64 or width < 128:
        raise ValueError(f'image size must be at least 64x128 (HxW), got {height}x{width}')
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f'need 1 <= min_objects <= max_objects, got {min_objects}, '
                         f'{max_objects}')
    for split, num in (('train', num_train), ('val', num_val)):
        if num * max_objects < n_cls:
            raise ValueError(f'{split}: {num} images x max_objects={max_objects} cannot hold '
                             f'all {n_cls} classes')


def generate_synthetic_cityscapes(out_dir: str, seed: int = 0, num_train: int = 8,
                                  num_val: int = 4, height: int = 128, width: int = 256,
                                  train_cities: Tuple[str, ...] = ('aachen',),
                                  val_cities: Tuple[str, ...] = ('frankfurt',),
                                  min_objects: int = 3, max_objects: int = 6,
                                  domain: SceneDomain = CITYSCAPES_LIKE) -> Dict:
    """Write a synthetic Cityscapes tree and its COCO annotations to ``out_dir``.

    Files (official naming, ``<name> = <city>_<seq:06d>_000019``):
    ``leftImg8bit/<split>/<city>/<name>_leftImg8bit.png`` (RGB),
    ``gtFine/<split>/<city>/<name>_gtFine_{polygons.json,instanceIds.png,labelIds.png}``,
    ``disparity/<split>/<city>/<name>_disparity.png`` (uint16, ``d * 256 + 1``, 0 in
    the sky and at sparse road pixels = invalid), ``camera/<split>/<city>/<name>_camera.json``
    and ``annotations/instancesonly_filtered_gtFine_<split>.json`` (via
    :func:`~procd_mm.datasets.preparation.cityscapes_to_coco.convert_cityscapes`).
    Every image asks for ``min_objects..max_objects`` objects (random classes
    are left out when they no longer fit side by side) and every class appears
    in both splits.  ``domain`` says how the scenes look and which classes are drawn
    (default: the Cityscapes-like street scenes).  The same arguments always give
    byte-identical files.

    Returns:
        dict with ``root``, ``annotations`` (``{split: json path}``) and
        ``ground_truth`` (``{split: [{file_name, height, width, instances:
        [{label, bbox (xywh), area, depth}]}]}``, images sorted by file name).
    """
    _check_args(num_train, num_val, height, width, min_objects, max_objects,
                len(domain.classes))
    cam = scaled_camera(height, width, domain.camera_height)
    ground_truth = {}
    for split_idx, (split, num, cities) in enumerate(
            (('train', num_train, train_cities), ('val', num_val, val_cities))):
        classes = _split_classes(np.random.default_rng([seed, split_idx]), num,
                                 min_objects, max_objects, domain.classes)
        records = []
        for i in range(num):
            city = cities[i % len(cities)]
            name = f'{city}_{i:06d}_000019'
            canvas, instances = _render_image(np.random.default_rng([seed, split_idx, i + 1]),
                                              height, width, *classes[i], cam, domain)
            _write_sample(out_dir, split, city, name, canvas, cam)
            records.append(dict(file_name=f'{city}/{name}_leftImg8bit.png', height=height,
                                width=width, instances=instances))
        ground_truth[split] = sorted(records, key=lambda r: r['file_name'])
    annotations = convert_cityscapes(out_dir, osp.join(out_dir, 'annotations'))
    return dict(root=out_dir, annotations=annotations, ground_truth=ground_truth)

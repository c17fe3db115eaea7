"""BDD100k detection labels -> COCO JSON for the Diverse-Weather splits (paper Sec. IV-A).

BDD100k detection labels are a JSON list of per-image dicts with ``name``,
``attributes.weather``, ``attributes.timeofday`` and ``labels[]`` (``category``,
``box2d{x1,y1,x2,y2}``). Images are 1280x720. Each split selects images by
(time of day, weather); boxes are kept for the 7 benchmark classes only.
"""
import json
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import mmengine

from ..diverse_weather_voc import DiverseWeatherVOCDataset

CLASSES = DiverseWeatherVOCDataset.METAINFO['classes']
IMAGE_WIDTH, IMAGE_HEIGHT = 1280, 720

# Split name -> (attributes.timeofday, attributes.weather).
SPLITS: Dict[str, Tuple[str, str]] = {
    'daytime_sunny': ('daytime', 'clear'),
    'night_rainy': ('night', 'rainy'),
    'dusk_rainy': ('dawn/dusk', 'rainy'),
    'night_sunny': ('night', 'clear'),
}
SPLIT_OF = {condition: split for split, condition in SPLITS.items()}

# BDD category (old 2018 names and new det_20 names) -> benchmark class.
CATEGORY_MAP = {
    'bus': 'bus',
    'bike': 'bike',
    'bicycle': 'bike',
    'car': 'car',
    'motor': 'motor',
    'motorcycle': 'motor',
    'person': 'person',
    'pedestrian': 'person',
    'rider': 'rider',
    'truck': 'truck',
}

# BDD categories that exist but are not part of the benchmark: dropped quietly.
DROPPED_CATEGORIES = frozenset({
    'traffic light', 'traffic sign', 'train', 'trailer', 'other vehicle',
    'other person', 'drivable area', 'lane'
})


@dataclass
class ConversionResult:
    """COCO dicts per split plus what was left out while converting."""

    splits: Dict[str, dict]
    unknown_categories: Counter = field(default_factory=Counter)
    dropped_categories: Counter = field(default_factory=Counter)
    degenerate_boxes: int = 0


def load_bdd_labels(path: str) -> List[dict]:
    """Read one BDD100k label file; raise ``ValueError`` naming it if unusable."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ValueError(f'{path}: not a UTF-8 text file ({err.reason})') from None
    if not text.strip():
        raise ValueError(f'{path}: file is empty')
    try:
        frames = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not valid JSON ({err})') from None
    if not isinstance(frames, list):
        raise ValueError(f'{path}: expected a JSON list of images, got '
                         f'{type(frames).__name__}')
    if not frames:
        raise ValueError(f'{path}: contains no images')
    return frames


def _where(path: str, frame: dict, index: int) -> str:
    name = frame.get('name') if isinstance(frame, dict) else None
    return f'{path}: image #{index}' + (f' ({name})' if name else '')


def _split_of(path: str, frame: dict, index: int) -> Optional[str]:
    attributes = frame.get('attributes') if isinstance(frame, dict) else None
    if not isinstance(frame, dict) or 'name' not in frame or not isinstance(
            attributes, dict):
        raise ValueError(f'{_where(path, frame, index)}: needs "name" and an '
                         '"attributes" dict')
    return SPLIT_OF.get((attributes.get('timeofday'), attributes.get('weather')))


def _coco_box(path: str, frame: dict, index: int, box2d) -> List[float]:
    """Clip ``box2d`` to the image and return COCO ``[x, y, w, h]``.

    BDD100k's ``box2d`` corners are inclusive pixel indices: the box covers pixels x1..x2, so
    ``w = x2 - x1 + 1``, as BDD100k's own COCO conversion (scalabel's ``box2d_to_bbox``)
    writes it; mmdet's ``CocoDataset`` then reads the box as ``[x1, y1, x2 + 1, y2 + 1]``.
    Corners are clipped to the last pixel of the 1280x720 image.
    """
    try:
        x1, y1, x2, y2 = (float(box2d[k]) for k in ('x1', 'y1', 'x2', 'y2'))
    except (TypeError, KeyError, ValueError):
        raise ValueError(f'{_where(path, frame, index)}: bad box2d {box2d!r}, '
                         'expected numbers x1, y1, x2, y2') from None
    x1, x2 = (min(max(v, 0.0), IMAGE_WIDTH - 1.0) for v in (x1, x2))
    y1, y2 = (min(max(v, 0.0), IMAGE_HEIGHT - 1.0) for v in (y1, y2))
    return [x1, y1, x2 - x1 + 1, y2 - y1 + 1]


def _empty_coco() -> dict:
    return dict(
        images=[],
        annotations=[],
        categories=[dict(id=i + 1, name=c) for i, c in enumerate(CLASSES)])


def convert(label_files: Sequence[str],
            image_prefixes: Optional[Sequence[str]] = None) -> ConversionResult:
    """Convert BDD100k label files into one COCO dict per weather split.

    Args:
        label_files: BDD100k detection label JSON files (e.g. train and val).
        image_prefixes: prepended to each image ``name`` to form
            ``file_name``; none, one for all files, or one per file.
    """
    prefixes = list(image_prefixes or [''])
    if len(prefixes) == 1:
        prefixes *= len(label_files)
    if len(prefixes) != len(label_files):
        raise ValueError(f'got {len(prefixes)} image prefixes for '
                         f'{len(label_files)} label files; give one or one per file')
    cat_ids = {c: i + 1 for i, c in enumerate(CLASSES)}
    result = ConversionResult(splits={s: _empty_coco() for s in SPLITS})
    seen: Dict[str, str] = {}
    for path, prefix in zip(label_files, prefixes):
        for index, frame in enumerate(load_bdd_labels(path)):
            split = _split_of(path, frame, index)
            if split is None:
                continue
            file_name = prefix + frame['name']
            if file_name in seen:
                raise ValueError(f'{path}: image {file_name} is also in {seen[file_name]}')
            seen[file_name] = path
            coco = result.splits[split]
            image_id = len(coco['images']) + 1
            coco['images'].append(
                dict(id=image_id, file_name=file_name, width=IMAGE_WIDTH,
                     height=IMAGE_HEIGHT))
            for label in frame.get('labels') or []:
                if not isinstance(label, dict):
                    raise ValueError(f'{_where(path, frame, index)}: label {label!r} '
                                     'is not a dict')
                category = label.get('category')
                if category in DROPPED_CATEGORIES:
                    result.dropped_categories[category] += 1
                    continue
                if category not in CATEGORY_MAP:
                    result.unknown_categories[str(category)] += 1
                    continue
                bbox = _coco_box(path, frame, index, label.get('box2d'))
                if bbox[2] <= 0 or bbox[3] <= 0:
                    result.degenerate_boxes += 1
                    continue
                coco['annotations'].append(
                    dict(id=len(coco['annotations']) + 1, image_id=image_id,
                         category_id=cat_ids[CATEGORY_MAP[category]], bbox=bbox,
                         area=bbox[2] * bbox[3], iscrowd=0))
    return result


def split_path(out_dir: str, split: str) -> str:
    """Where :func:`write_splits` writes ``split``."""
    return osp.join(out_dir, f'{split}.json')


def write_splits(result: ConversionResult, out_dir: str) -> Dict[str, str]:
    """Write ``<out_dir>/<split>.json`` for every split the label files hold images of, each
    atomically; return their paths. A split the input has no image of is not written, so a
    file an earlier run wrote from other label files stays (the tool says which it replaces).
    """
    from procd_mm.utils.checkpoint_io import write_atomically
    held = {split: coco for split, coco in result.splits.items() if coco['images']}
    if not held:
        raise ValueError(f'the label files hold no image of the splits {sorted(SPLITS)}; '
                         'nothing was written')
    mmengine.mkdir_or_exist(out_dir)
    paths = {}
    for split, coco in held.items():
        paths[split] = split_path(out_dir, split)
        write_atomically(paths[split],
                         lambda f, coco=coco: f.write(json.dumps(coco, allow_nan=False)), 'w')
    return paths

"""Ground truth of a COCO-format annotation file, checked before it is used.

mmdet's ``CocoDataset`` drops, without a word, an annotation whose ``category_id`` is not
among the file's categories (its class's AP becomes "–" and leaves the mean); it keeps a
box of negative width or height for evaluation, where pycocotools takes it as ground truth;
it fails on an empty image list with a numpy error. Each of these, a box outside its image
or with a NaN, and a split without annotations where a metric needs them, is one line here
naming the file, the image and the annotation (docs/reliability.md).
"""
import math
from typing import Optional

from procd_mm.utils import InputError

#: How far (pixels) a box may reach past its image's border: converters round outwards.
BORDER_TOLERANCE = 1.0


def check_coco_annotations(path: str, coco: dict, need_annotations: bool = False) -> None:
    """Refuse ``coco`` (the JSON read from ``path``) unless every annotation can be used.

    Args:
        path: the file, named in the messages.
        coco: its content.
        need_annotations: a metric reads it: a file without annotations is refused too.
    """
    images = coco.get('images') if isinstance(coco, dict) else None
    if not isinstance(images, list) or not images:
        raise InputError(f'{path} has no images (its "images" list is missing or empty)')
    annotations = coco.get('annotations') or []
    if need_annotations and not annotations:
        raise InputError(f'{path} has no annotations: a metric needs ground truth to score')
    by_id = {image.get('id'): image for image in images}
    categories = {c.get('id') for c in coco.get('categories') or []}
    for ann in annotations:
        image = by_id.get(ann.get('image_id'))
        where = f'{path}: annotation {ann.get("id")!r} (image {ann.get("image_id")!r}' + (
            f', {image.get("file_name")})' if image else ')')
        if image is None:
            raise InputError(f'{where}: its image_id is not among the file\'s images')
        if ann.get('category_id') not in categories:
            raise InputError(f'{where}: category_id {ann.get("category_id")!r} is not among the '
                             f'categories {sorted(categories)}')
        problem = _box_problem(ann.get('bbox'), image)
        if problem:
            raise InputError(f'{where}: bbox {ann.get("bbox")!r} {problem}')


def _box_problem(bbox, image: dict) -> Optional[str]:
    """What is wrong with an ``[x, y, w, h]`` box of ``image``, or ``None``."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return 'is not [x, y, w, h]'
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in bbox):
        return 'holds a value that is not a finite number'
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        return 'has a width or height <= 0'
    width, height = image.get('width'), image.get('height')
    if isinstance(width, (int, float)) and isinstance(height, (int, float)):
        t = BORDER_TOLERANCE
        if x < -t or y < -t or x + w > width + t or y + h > height + t:
            return f'lies outside its {width}x{height} image'
    return None

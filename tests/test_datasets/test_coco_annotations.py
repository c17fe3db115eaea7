"""procd_mm/datasets/coco_annotations.py: COCO ground truth that is not what it seems is one
line naming the file, the image and the annotation."""
import copy

import pytest

from procd_mm.datasets.coco_annotations import check_coco_annotations
from procd_mm.utils import InputError

COCO = dict(
    images=[dict(id=1, file_name='a.png', width=100, height=50)],
    annotations=[dict(id=7, image_id=1, category_id=2, bbox=[10.0, 5.0, 20.0, 10.0])],
    categories=[dict(id=1, name='person'), dict(id=2, name='car')])


def changed(**ann):
    coco = copy.deepcopy(COCO)
    coco['annotations'][0].update(ann)
    return coco


def test_usable_ground_truth_passes():
    check_coco_annotations('gt.json', COCO, need_annotations=True)
    # a box reaching the border by less than a pixel (converters round outwards)
    check_coco_annotations('gt.json', changed(bbox=[-0.5, 0.0, 100.9, 50.0]))


@pytest.mark.parametrize('ann, message', [
    (dict(category_id=9), r"gt\.json: annotation 7 \(image 1, a\.png\): category_id 9 is not "
                          r"among the categories \[1, 2\]"),
    (dict(bbox=[10, 5, -3, 10]), r'bbox \[10, 5, -3, 10\] has a width or height <= 0'),
    (dict(bbox=[10, 5, 20, 0]), 'has a width or height <= 0'),
    (dict(bbox=[90, 5, 20, 10]), 'lies outside its 100x50 image'),
    (dict(bbox=[10, float('nan'), 20, 10]), 'holds a value that is not a finite number'),
    (dict(bbox=[10, 5, 20]), r'is not \[x, y, w, h\]'),
    (dict(image_id=3), r"annotation 7 \(image 3\): its image_id is not among the file's images"),
])
def test_each_problem_is_one_line(ann, message):
    with pytest.raises(InputError, match=message):
        check_coco_annotations('gt.json', changed(**ann))


def test_no_images_and_no_annotations():
    with pytest.raises(InputError, match='gt.json has no images'):
        check_coco_annotations('gt.json', dict(COCO, images=[]))
    without = dict(COCO, annotations=[])
    check_coco_annotations('gt.json', without)  # a training split may hold images only
    with pytest.raises(InputError, match='has no annotations: a metric needs ground truth'):
        check_coco_annotations('gt.json', without, need_annotations=True)

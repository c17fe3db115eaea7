"""The demo's two experiments (:class:`Regime`): how the teacher's source data and label
space relate to the student's. See docs/demo.md for the principle behind each choice.

* ``paper`` (the default): as in the paper (arXiv 2212.13180, Sec. IV-A.2, COCO teacher →
  Cityscapes student), the teacher's label space differs from the student's (COCO's names,
  order and ids, 7 classes, no rider) but covers its object kinds, and its images come from
  another domain (colour noise, open landscape, object scale, striped texture, camera
  height); what identifies a kind (outline, colour) is shared, as in COCO and Cityscapes.
* ``disjoint`` (the harder experiment): the teacher knows car/truck/bus/train and the
  student learns person/rider/motorcycle/bicycle, both in the same street domain.

Each regime has two student families under the same teacher: the paper's Cascade Mask
R-CNN and a tiny RTMDet (``--student rtmdet``).
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from procd_mm.datasets.preparation.scene_domain import CITYSCAPES_LIKE, COCO_LIKE, SceneDomain

#: COCO's category ids of the 7 Cityscapes kinds it has (it has no rider).
COCO_CATEGORIES = ((1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'), (6, 'bus'),
                   (7, 'train'), (8, 'truck'))


@dataclass(frozen=True)
class Regime:
    """One experiment: the source domain of the teacher, the label space its annotations
    are written in (``None``: the Cityscapes JSON as converted), the teacher's config and,
    per student family, the student-only and the distiller config."""
    name: str
    source_domain: SceneDomain
    source_categories: Optional[Tuple[Tuple[int, str], ...]]
    teacher_config: str
    students: Dict[str, Tuple[str, str]]


REGIMES = dict(
    paper=Regime('paper', COCO_LIKE, COCO_CATEGORIES, 'teacher-paper_tiny.py', dict(
        cascade=('student-paper_tiny.py', 'procd-paper_tiny.py'),
        rtmdet=('student-paper-rtmdet_tiny.py', 'procd-paper-rtmdet_tiny.py'))),
    disjoint=Regime('disjoint', CITYSCAPES_LIKE, None, 'teacher_tiny.py', dict(
        cascade=('student_tiny.py', 'procd_tiny.py'),
        rtmdet=('student-rtmdet_tiny.py', 'procd-rtmdet_tiny.py'))),
)

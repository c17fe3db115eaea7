"""How a synthetic domain draws its scenes (:class:`SceneDomain`).

The paper's setting (arXiv 2212.13180, Sec. IV-A.2) distils a teacher trained on one data
set (COCO) into a student on another (Cityscapes): other images, other camera, other
statistics. :func:`~procd_mm.datasets.preparation.synthetic_cityscapes.
generate_synthetic_cityscapes` draws its scenes in the domain it is given; the default is
the original Cityscapes-like look, byte for byte.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from .cityscapes_to_coco import CITYSCAPES_CLASSES

RGB = Tuple[int, int, int]


@dataclass(frozen=True)
class SceneDomain:
    """The drawing options of one synthetic domain.

    Args:
        classes: the object kinds drawn (a subset of the 8 Cityscapes classes).
        colour_jitter: standard deviation of the per-object colour noise.
        sky: top and bottom colour of the sky gradient.
        building: base colour of the buildings (``None``: no skyline, an open field
            whose horizon is the road's far edge).
        road, sidewalk: colours of the ground.
        scale: factor on the smallest object size (larger, nearer objects).
        stripes: darkening of every other horizontal band of an object (0: flat
            colours), the bands ``stripe_px`` pixels high (a texture).
        camera_height: height of the camera above the road in metres (the camera).
    """
    classes: Sequence[str] = CITYSCAPES_CLASSES
    colour_jitter: float = 12.0
    sky: Tuple[RGB, RGB] = ((165, 195, 230), (225, 230, 238))
    building: Optional[RGB] = (150, 130, 115)
    road: RGB = (90, 90, 95)
    sidewalk: RGB = (165, 155, 145)
    scale: float = 1.0
    stripes: float = 0.0
    stripe_px: int = 3
    camera_height: float = 1.22

    def __post_init__(self):
        unknown = [c for c in self.classes if c not in CITYSCAPES_CLASSES]
        if unknown or not self.classes:
            raise ValueError(f'SceneDomain.classes must be Cityscapes classes, got '
                             f'{list(self.classes)}')
        if self.scale < 1.0 or not 0.0 <= self.stripes < 1.0 or self.camera_height <= 0:
            raise ValueError('SceneDomain needs scale >= 1, 0 <= stripes < 1 and '
                             'camera_height > 0')


#: The students' domain: the generator's original Cityscapes-like street scenes.
CITYSCAPES_LIKE = SceneDomain()

#: A COCO-like source domain for the teacher: 7 of the 8 kinds (no rider, as COCO has
#: none), noisier colours, a warm sky, grey-blue buildings, a brown road beside grass,
#: larger objects, striped textures and a higher camera. What the scenes contain (the kinds
#: and their outline and colour, streets lined with buildings) is the same in both domains,
#: as COCO's street photographs contain Cityscapes' objects and buildings: the domains differ
#: in style and photography, not in content.
COCO_LIKE = SceneDomain(
    classes=('person', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle'),
    colour_jitter=30.0, sky=((235, 200, 160), (250, 235, 210)), building=(120, 125, 140),
    road=(120, 110, 100), sidewalk=(90, 140, 70), scale=1.3, stripes=0.25, camera_height=1.6)

"""demo.transfer: the target domain with one of the source domain's changes at a time."""
import dataclasses

from demo.transfer import CHANGES, variants
from procd_mm.datasets.preparation.scene_domain import CITYSCAPES_LIKE, COCO_LIKE


def test_each_variant_is_the_target_with_one_change_of_the_source():
    out = variants(COCO_LIKE)
    assert out['source'] == COCO_LIKE
    target = out['target']
    assert target == dataclasses.replace(CITYSCAPES_LIKE, classes=COCO_LIKE.classes)
    all_fields = {f.name for f in dataclasses.fields(target)} - {'classes'}
    changed_somewhere = set()
    for name, fields in CHANGES.items():
        variant = out[f'target + {name}']
        differs = {f for f in all_fields if getattr(variant, f) != getattr(target, f)}
        assert differs and differs <= set(fields), name
        assert all(getattr(variant, f) == getattr(COCO_LIKE, f) for f in fields), name
        changed_somewhere |= differs
    # together the changes cover every way the source differs from the target
    assert changed_somewhere == {f for f in all_fields
                                 if getattr(COCO_LIKE, f) != getattr(target, f)}

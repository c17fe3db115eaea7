# Cityscapes -> Foggy Cityscapes (SPEC §4): train on clear Cityscapes train,
# validate / test on Foggy Cityscapes val of fog level `beta` (same annotations).
# `beta` is read once, here: a config inheriting this one that changes it must
# also set the val/test datasets' `beta`.
_base_ = './cityscapes_detection.py'

custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False)
beta = 0.02

val_dataloader = dict(
    dataset=dict(
        type='FoggyCityscapesDataset',
        beta=beta,
        data_prefix=dict(img='leftImg8bit_foggy/val/')))
test_dataloader = val_dataloader

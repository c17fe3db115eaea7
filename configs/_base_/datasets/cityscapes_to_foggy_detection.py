# Cityscapes -> Foggy Cityscapes (paper Sec. IV-A): train on clear Cityscapes train,
# validate / test on Foggy Cityscapes val of fog level `beta` (same annotations).
# `beta` is read once, here: a config inheriting this one that changes it must
# also set the val/test datasets' `beta`.
_base_ = './cityscapes_detection.py'

# FoggyCityscapesDataset is registered by procd_mm: the full config imports it through
# configs/_base_/default_runtime.py (custom_imports).
beta = 0.02

val_dataloader = dict(
    dataset=dict(
        type='FoggyCityscapesDataset',
        beta=beta,
        data_prefix=dict(img='leftImg8bit_foggy/val/')))
test_dataloader = val_dataloader

# Foggy Cityscapes (paper Sec. IV-A): train and val/test on the foggy images of one fog
# level, with the Cityscapes annotations.  Images under
# data/cityscapes/leftImg8bit_foggy/<split>/<city>/<name>_leftImg8bit_foggy_beta_<beta>.png
# (the official release, or tools/dataset_converters/foggify_cityscapes.py).
# `beta` is read once, here: a config inheriting this one that changes it must
# also set the datasets' `beta`.
_base_ = './cityscapes_detection.py'

# FoggyCityscapesDataset is registered by procd_mm: the full config imports it through
# configs/_base_/default_runtime.py (custom_imports).
beta = 0.02
foggy_dataset_type = 'FoggyCityscapesDataset'

train_dataloader = dict(
    dataset=dict(
        type=foggy_dataset_type,
        beta=beta,
        data_prefix=dict(img='leftImg8bit_foggy/train/')))
val_dataloader = dict(
    dataset=dict(
        type=foggy_dataset_type,
        beta=beta,
        data_prefix=dict(img='leftImg8bit_foggy/val/')))
test_dataloader = val_dataloader

# Student row of Foggy Cityscapes, beta 0.02 (paper Table II):
# Cascade Mask R-CNN Swin-T trained alone (no teacher).
#   tools/dist_train.sh configs/student_swin_foggy.py 8
_base_ = [
    './_base_/models/cascade_mask_rcnn_swin-t_fpn.py',
    './_base_/datasets/foggy_cityscapes_detection.py',
    './_base_/schedules/sgd_36e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False)

# The paper's setting: 2 images per GPU, 36 plain epochs (no RepeatDataset), and the masks the
# Cascade Mask R-CNN student's mask heads are trained on.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(2048, 800), (2048, 1024)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(times=1, dataset=dict(pipeline=train_pipeline)))

# Student row of Foggy Cityscapes (beta 0.02) for a one-stage student, beyond the paper
# (docs/method.md, "Dense students"): mmdet's RTMDet-s with its own pipeline and schedule
# (rtmdet_s_8xb32-300e_coco.py), on the 8 Cityscapes classes, trained alone.
#   tools/dist_train.sh configs/dense/rtmdet-s_foggy.py 8
_base_ = 'mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py'

custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False)
data_root = 'data/cityscapes/'
classes = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
foggy = dict(type='FoggyCityscapesDataset', beta=0.02, data_root=data_root,
             metainfo=dict(classes=classes))

model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(
    **foggy, ann_file='annotations/instancesonly_filtered_gtFine_train.json',
    data_prefix=dict(img='leftImg8bit_foggy/train/')))
val_dataloader = dict(dataset=dict(
    **foggy, ann_file='annotations/instancesonly_filtered_gtFine_val.json',
    data_prefix=dict(img='leftImg8bit_foggy/val/')))
test_dataloader = val_dataloader
val_evaluator = dict(type='PerClassAP50Metric',
                     ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json')
test_evaluator = val_evaluator
# the project's atomic checkpoints and RNG state (docs/reliability.md), best by AP50
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', save_best='coco/bbox_mAP_50',
                                     rule='greater'))
custom_hooks = _base_.custom_hooks + [dict(type='RNGStateHook')]

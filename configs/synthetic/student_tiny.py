# A tiny Cascade Mask R-CNN (Swin) student on synthetic Cityscapes-format data; ~1 min on CPU.
#   python tools/misc/make_synthetic_cityscapes.py data/synthetic_cityscapes
#   python tools/train.py configs/synthetic/student_tiny.py
_base_ = [
    '../_base_/models/cascade_mask_rcnn_swin_tiny_synthetic.py',
    '../_base_/datasets/synthetic_cityscapes_detection.py',
    '../_base_/default_runtime.py',
]

# The student's label space: disjoint from the synthetic teacher's (teacher_tiny.py).
classes = ('person', 'rider', 'motorcycle', 'bicycle')
num_classes = len(classes)
model = dict(roi_head=dict(
    bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
    mask_head=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

max_iters = 150
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2),
    visualization=dict(type='DetVisualizationHook'))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)

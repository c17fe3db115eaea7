# The teacher of the demo's paper regime (docs/demo.md): larger than the student (Swin-T
# depths at twice the student's width, as Swin-B is to Swin-T) and trained on a COCO-like
# source domain in COCO's label space (its names, order and ids; 7 classes, no rider).
#   python tools/train.py configs/synthetic/teacher-paper_tiny.py
_base_ = ['./student_tiny.py']

classes = ('person', 'bicycle', 'car', 'motorcycle', 'bus', 'train', 'truck')
num_classes = len(classes)
model = dict(
    backbone=dict(embed_dims=64, depths=(2, 2, 6, 2), num_heads=(2, 4, 8, 16)),
    neck=dict(in_channels=[64, 128, 256, 512]),
    roi_head=dict(
        bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
        mask_head=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
# the teacher's own optimisation, kept apart from the students' (demo/pilot.py chooses theirs)
optim_wrapper = dict(clip_grad=dict(max_norm=10.0))

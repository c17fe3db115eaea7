# A tiny teacher on the synthetic data, trained on a label space disjoint from the student's.
#   python tools/train.py configs/synthetic/teacher_tiny.py
_base_ = ['./student_tiny.py']

# Source label space of the teacher (the student learns person/rider/motorcycle/bicycle).
classes = ('car', 'truck', 'bus', 'train')
num_classes = len(classes)
model = dict(
    backbone=dict(embed_dims=48, depths=(1, 1, 3, 1), num_heads=(2, 3, 6, 12)),
    neck=dict(in_channels=[48, 96, 192, 384]),
    roi_head=dict(
        bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
        mask_head=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

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
        bbox_head=[
            dict(type='Shared2FCBBoxHead', in_channels=64, fc_out_channels=128,
                 roi_feat_size=7, num_classes=num_classes, reg_class_agnostic=True,
                 bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                 target_stds=stds),
                 loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_head=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

# The cross-task teacher (paper Sec. IV-A, SPEC §1): Cascade Mask R-CNN Swin-B (embed 128,
# depths 2-2-18-2, heads 4-8-16-32, window 7) on COCO's 80 classes, laid out as the public
# checkpoint cascade_mask_rcnn_swin_base_patch4_window7.pth of Swin-Transformer-Object-Detection
# (three 4-conv-1-fc bbox heads with SyncBN, GIoU loss weight 10 on decoded boxes,
# class-specific regression, mask heads). Convert that checkpoint with
#   python tools/model_converters/swin_official_to_procd.py IN.pth OUT.pth
# (docs/reproduce.md). Only backbone + neck run during distillation.
_base_ = './cascade_mask_rcnn_swin-t_fpn.py'

num_classes = 80
model = dict(
    backbone=dict(
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        drop_path_rate=0.3,
        convert_weights=False,
        init_cfg=None),
    neck=dict(in_channels=[128, 256, 512, 1024]),
    roi_head=dict(
        bbox_head=[
            dict(
                type='ConvFCBBoxHead',
                num_shared_convs=4,
                num_shared_fcs=1,
                in_channels=256,
                conv_out_channels=256,
                fc_out_channels=1024,
                roi_feat_size=7,
                num_classes=num_classes,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                target_stds=stds),
                reg_class_agnostic=False,
                reg_decoded_bbox=True,
                norm_cfg=dict(type='SyncBN', requires_grad=True),
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_head=dict(num_classes=num_classes)))

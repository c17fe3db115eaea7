# The cross-task teacher (paper Sec. IV-A): Cascade Mask R-CNN Swin-B (embed 128,
# depths 2-2-18-2, heads 4-8-16-32, window 7) on COCO's 80 classes, laid out as the public
# checkpoint cascade_mask_rcnn_swin_base_patch4_window7.pth of Swin-Transformer-Object-Detection
# (three 4-conv-1-fc bbox heads with SyncBN, GIoU loss weight 10 on decoded boxes,
# class-specific regression, mask heads). Convert that checkpoint with
#   python tools/model_converters/swin_official_to_procd.py IN.pth OUT.pth
# (docs/reproduce.md). Only backbone + neck run during distillation.
_base_ = './cascade-mask-rcnn_swin-t-p4-w7_fpn.py'

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
        bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
        mask_head=dict(num_classes=num_classes)))

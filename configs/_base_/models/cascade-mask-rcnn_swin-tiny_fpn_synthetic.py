# A very small Cascade Mask R-CNN (Swin backbone, 64-channel FPN) for CPU runs on synthetic data.
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'

neck_channels = 64
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=32,
        depths=(1, 1, 2, 1),
        num_heads=(1, 2, 4, 8),
        window_size=7,
        mlp_ratio=2,
        drop_path_rate=0.1,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        convert_weights=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=neck_channels),
    rpn_head=dict(in_channels=neck_channels, feat_channels=neck_channels),
    roi_head=dict(
        # finest_scale scaled down with the image (256x128 instead of 2048x1024), so that
        # RoIs spread over all four levels as they do at full size
        bbox_roi_extractor=dict(out_channels=neck_channels, finest_scale=8),
        bbox_head=[
            dict(type='Shared2FCBBoxHead', in_channels=neck_channels, fc_out_channels=128,
                 roi_feat_size=7, num_classes=8, reg_class_agnostic=True,
                 bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                 target_stds=stds),
                 loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_roi_extractor=dict(out_channels=neck_channels, finest_scale=8),
        mask_head=dict(num_convs=2, in_channels=neck_channels, conv_out_channels=neck_channels,
                       num_classes=8)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=[
            dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou, neg_iou_thr=iou,
                               min_pos_iou=iou, match_low_quality=False, ignore_iof_thr=-1),
                 sampler=dict(type='RandomSampler', num=64, pos_fraction=0.25,
                              neg_pos_ub=-1, add_gt_as_proposals=True),
                 mask_size=28, pos_weight=-1, debug=False)
            for iou in (0.5, 0.6, 0.7)
        ]),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=50)))

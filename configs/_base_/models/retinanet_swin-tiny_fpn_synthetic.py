# A very small RetinaNet (Swin backbone, 64-channel FPN, P3-P7) for CPU runs on synthetic data.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

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
        out_indices=(1, 2, 3),
        convert_weights=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256], out_channels=neck_channels, start_level=0),
    bbox_head=dict(
        num_classes=4, in_channels=neck_channels, feat_channels=neck_channels, stacked_convs=2,
        # anchors scaled down with the image (256x128 instead of 1333x800), so that objects
        # are assigned to every level, the stride-32 one included
        anchor_generator=dict(octave_base_scale=1)))

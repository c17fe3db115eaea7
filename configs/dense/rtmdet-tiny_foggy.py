# Student row of Foggy Cityscapes (beta 0.02) for RTMDet-tiny, beyond the paper (docs/method.md,
# "Dense students"): rtmdet-s_foggy.py with mmdet's RTMDet-tiny model (its
# rtmdet_tiny_8xb32-300e_coco.py: depth 0.167, width 0.375, PAFPN 96) and the tiny row's
# lighter Mosaic and MixUp, trained alone.
#   tools/dist_train.sh configs/dense/rtmdet-tiny_foggy.py 8
_base_ = './rtmdet-s_foggy.py'

checkpoint = 'https://download.openmmlab.com/mmdetection/v3.0/rtmdet/cspnext_rsb_pretrain/cspnext-tiny_imagenet_600e.pth'  # noqa
model = dict(
    backbone=dict(deepen_factor=0.167, widen_factor=0.375,
                  init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=checkpoint)),
    neck=dict(in_channels=[96, 192, 384], out_channels=96, num_csp_blocks=1),
    bbox_head=dict(in_channels=96, feat_channels=96, exp_on_reg=False))
train_pipeline = _base_.train_pipeline
train_pipeline[2].update(max_cached_images=20, random_pop=False)  # CachedMosaic
train_pipeline[3].update(ratio_range=(0.5, 2.0))  # RandomResize
train_pipeline[8].update(max_cached_images=10, random_pop=False, prob=0.5)  # CachedMixUp
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

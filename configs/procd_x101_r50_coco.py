# ProC-KD row of the same-task setting (paper Table VI, 42.1 AP): Faster R-CNN R50 distilled on
# COCO from mmdet's model-zoo Cascade Mask R-CNN X101-64x4d (also trained on COCO), with CWD as
# L_emb and the prototype path on FPN level 3.
#   tools/dist_train.sh configs/procd_x101_r50_coco.py 8
_base_ = [
    './_base_/distillers/procd.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False)

model = dict(
    architecture=dict(cfg_path='configs/student_r50_coco.py'),
    teacher=dict(cfg_path='mmdet::cascade_rcnn/cascade-mask-rcnn_x101-64x4d_fpn_20e_coco.py'),
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/'
    'cascade_mask_rcnn_x101_64x4d_fpn_20e_coco/'
    'cascade_mask_rcnn_x101_64x4d_fpn_20e_coco_20200512_161033-bdb5126a.pth')

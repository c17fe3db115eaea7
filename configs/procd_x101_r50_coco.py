# ProC-KD row of the same-task setting (paper Table VI, 42.1 AP): Faster R-CNN R50 distilled on
# COCO from the paper's 44.3 AP teacher, mmdet's model-zoo Cascade Mask R-CNN X-101-32x4d-FPN 1x
# (box AP 44.3 in mmdet's metafile, the teacher row of Table VI), with CWD as L_emb and the
# prototype path on FPN level 3. The CWD and FBOD rows inherit this teacher.
#   tools/dist_train.sh configs/procd_x101_r50_coco.py 8
_base_ = [
    './_base_/distillers/procd.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    './_base_/default_runtime.py',
]

model = dict(
    architecture=dict(cfg_path='configs/student_r50_coco.py'),
    teacher=dict(cfg_path='mmdet::cascade_rcnn/cascade-mask-rcnn_x101-32x4d_fpn_1x_coco.py'),
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/'
    'cascade_mask_rcnn_x101_32x4d_fpn_1x_coco/'
    'cascade_mask_rcnn_x101_32x4d_fpn_1x_coco_20200201-0f411b1f.pth')
# Table VI reports COCO AP: keep the best checkpoint by it
default_hooks = dict(checkpoint=dict(save_best='coco/bbox_mAP'))

# Student row of Foggy Cityscapes (beta 0.02) for RetinaNet R-50 (FPN 256, P3-P7), beyond the
# paper (docs/method.md, "Dense students"): mmdet's RetinaNet on the paper rows' data and
# schedule, 8 classes, trained alone.
#   tools/dist_train.sh configs/dense/retinanet_r50_foggy.py 8
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/foggy_cityscapes_detection.py',
    '../_base_/schedules/sgd_36e.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=8))

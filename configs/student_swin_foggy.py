# Student row of Foggy Cityscapes, beta 0.02 (paper Table II):
# Cascade Mask R-CNN Swin-T trained alone (no teacher).
#   tools/dist_train.sh configs/student_swin_foggy.py 8
_base_ = [
    './_base_/models/cascade-mask-rcnn_swin-t-p4-w7_fpn.py',
    './_base_/datasets/foggy_cityscapes_detection.py',
    './_base_/schedules/sgd_36e.py',
    './_base_/default_runtime.py',
]

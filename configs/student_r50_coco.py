# Student row of the same-task setting (paper Table VI, 38.4 AP): mmdet's Faster R-CNN R50-FPN
# with the 2x schedule (24 epochs, SGD lr 0.02 at batch 16), the schedule of the CWD paper whose
# setting Table VI follows; mmdet's model-zoo result for it is the paper's 38.4 AP.
#   tools/dist_train.sh configs/student_r50_coco.py 8
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py'
custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False)
# the hooks of configs/_base_/default_runtime.py (this row inherits mmdet's runtime through
# mmdet's own config): atomic checkpoints, bit-exact resume
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', save_best='coco/bbox_mAP', rule='greater'))
custom_hooks = [dict(type='RNGStateHook')]

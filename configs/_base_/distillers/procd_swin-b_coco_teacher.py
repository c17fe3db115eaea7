# ProC-KD from the frozen cross-task teacher of every Swin row: Cascade Mask R-CNN Swin-B
# trained on COCO, the public checkpoint converted by
# tools/model_converters/swin_official_to_procd.py (docs/reproduce.md). Its model is named by
# package scope, so that configs outside this repository inherit it too.
_base_ = './procd.py'

model = dict(
    teacher=dict(cfg_path='procd_mm::_base_/models/cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py'),
    teacher_ckpt='checkpoints/cascade_mask_rcnn_swin-b_coco_procd.pth')

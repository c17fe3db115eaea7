# A tiny Cascade Mask R-CNN (Swin) student on synthetic Cityscapes-format data; ~1 min on CPU.
#   python tools/misc/make_synthetic_cityscapes.py data/synthetic_cityscapes
#   python tools/train.py configs/synthetic/student_tiny.py
_base_ = [
    '../_base_/models/cascade-mask-rcnn_swin-tiny_fpn_synthetic.py',
    '../_base_/datasets/synthetic_cityscapes_student_classes.py',
    '../_base_/tiny_cpu_runtime.py',
]

num_classes = len(_base_.classes)
model = dict(roi_head=dict(
    bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
    mask_head=dict(num_classes=num_classes)))

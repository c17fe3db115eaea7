# A tiny RetinaNet student (one-stage, P3-P7) on the synthetic data, 4 classes; ~1 min on CPU.
#   python tools/train.py configs/synthetic/student-retinanet_tiny.py
_base_ = [
    '../_base_/models/retinanet_swin-tiny_fpn_synthetic.py',
    '../_base_/datasets/synthetic_cityscapes_student_classes.py',
    '../_base_/tiny_cpu_runtime.py',
]

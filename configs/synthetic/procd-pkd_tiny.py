# procd_tiny.py with mmrazor's PKDLoss on the FPN outputs as L_emb
# (configs/_base_/distillers/procd-pkd.py) instead of CWD.
#   python tools/train.py configs/synthetic/procd-pkd_tiny.py
_base_ = [
    '../_base_/distillers/procd-pkd.py',
    '../_base_/datasets/synthetic_cityscapes_student_classes.py',
    '../_base_/tiny_cpu_runtime.py',
]

model = dict(
    architecture=dict(cfg_path='configs/synthetic/student_tiny.py'),
    teacher=dict(cfg_path='configs/synthetic/teacher_tiny.py'),
    teacher_ckpt='work_dirs/teacher_tiny/iter_150.pth',
    prototype_learning=dict(num_prototypes=16))

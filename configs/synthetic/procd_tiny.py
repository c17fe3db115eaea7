# ProC-KD from the tiny synthetic teacher (car/truck/bus/train) into the tiny student
# (person/rider/motorcycle/bicycle): cross-task distillation on CPU in about a minute.
#   python tools/train.py configs/synthetic/teacher_tiny.py --work-dir work_dirs/teacher_tiny
#   python tools/train.py configs/synthetic/procd_tiny.py
_base_ = [
    '../_base_/distillers/procd.py',
    '../_base_/datasets/synthetic_cityscapes_student_classes.py',
    '../_base_/tiny_cpu_runtime.py',
]

model = dict(
    architecture=dict(cfg_path='configs/synthetic/student_tiny.py'),
    teacher=dict(cfg_path='configs/synthetic/teacher_tiny.py'),
    teacher_ckpt='work_dirs/teacher_tiny/iter_150.pth',
    # CWD weight: L_emb's gradient at most L_stu's at iteration 0 (python -m demo.pilot)
    emb_loss=dict(loss_weights=0.2),
    prototype_learning=dict(num_prototypes=16))

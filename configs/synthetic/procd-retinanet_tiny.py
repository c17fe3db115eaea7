# procd_tiny.py with the tiny RetinaNet student (docs/method.md, "Dense students"): CWD on its
# P3-P6 against the teacher levels of the same strides, the prototype path on its stride-32
# level (index 2, the teacher's index 3).
#   python tools/train.py configs/synthetic/procd-retinanet_tiny.py
_base_ = './procd_tiny.py'

model = dict(
    architecture=dict(cfg_path='configs/synthetic/student-retinanet_tiny.py'),
    emb_loss=dict(levels=(0, 1, 2, 3)),
    prototype_level=None,
    con_loss=dict(_delete_=True, type='DenseConsistencyLoss', tau=1.0, detach_target=True))

# ProC-KD from the tiny synthetic teacher (car/truck/bus/train) into the tiny student
# (person/rider/motorcycle/bicycle): cross-task distillation on CPU in about a minute.
#   python tools/train.py configs/synthetic/teacher_tiny.py --work-dir work_dirs/teacher_tiny
#   python tools/train.py configs/synthetic/procd_tiny.py
_base_ = ['./student_tiny.py']

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ProCKD',
    architecture={{_base_.model}},
    teacher=dict(cfg_path='configs/synthetic/teacher_tiny.py'),
    teacher_ckpt='work_dirs/teacher_tiny/iter_150.pth',
    emb_loss=dict(type='CWDEmbeddingLoss', tau=1.0, loss_weights=5.0),
    prototype_level=3,
    prototype_learning=dict(type='PrototypeLearning', num_prototypes=16),
    feature_augmentation=dict(type='FeatureAugmentation'),
    con_loss=dict(type='RoIConsistencyLoss', tau=1.0, detach_target=True),
    lambda_emb=1.0,
    lambda_pro=1.0,
    lambda_stu=1.0)

# ProC-KD settings shared by every paper row (paper Eq. 7 with λ = 1/1/1, docs/method.md): the
# CWD feature term on all FPN levels plus the prototype path on level 3 (P5). A row adds
# `architecture` (its student config), `teacher` and `teacher_ckpt`; baselines inherit a
# ProC-KD row and change only `emb_loss` / `lambda_pro`.
model = dict(
    _scope_='mmrazor',
    type='ProCKD',
    emb_loss=dict(type='CWDEmbeddingLoss', tau=1.0, loss_weights=10.0, levels=(0, 1, 2, 3, 4)),
    prototype_level=3,
    prototype_learning=dict(type='PrototypeLearning', num_prototypes=72),
    feature_augmentation=dict(type='FeatureAugmentation'),
    con_loss=dict(type='RoIConsistencyLoss', tau=1.0, detach_target=True),
    lambda_emb=1.0,
    lambda_pro=1.0,
    lambda_stu=1.0)

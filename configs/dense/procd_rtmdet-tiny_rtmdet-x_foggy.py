# ProC-KD for a same-family pair that differs in width, beyond the paper (docs/method.md,
# "Teacher and student that differ"): mmdet's COCO RTMDet-x (PAFPN 320, P3-P5, 80 classes)
# into the RTMDet-tiny student of rtmdet-tiny_foggy.py (PAFPN 96, 8 classes), with the
# student's own data pipeline and schedule. CWD on the three levels through 1x1 connectors
# (96 -> 320); the prototype path on the stride-32 level, its prototypes at the teacher's
# width with a 320 -> 96 projection; λ = 1/1/1.
#   mim download mmdet --config rtmdet_x_8xb32-300e_coco --dest checkpoints
#   tools/dist_train.sh configs/dense/procd_rtmdet-tiny_rtmdet-x_foggy.py 8
_base_ = './rtmdet-tiny_foggy.py'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ProCKD',
    architecture=dict(cfg_path='configs/dense/rtmdet-tiny_foggy.py'),
    teacher=dict(cfg_path='mmdet::rtmdet/rtmdet_x_8xb32-300e_coco.py'),
    teacher_ckpt='checkpoints/rtmdet_x_8xb32-300e_coco_20220715_230555-cc79b9ae.pth',
    emb_loss=dict(type='CWDEmbeddingLoss', tau=1.0, loss_weights=10.0, levels=(0, 1, 2),
                  use_connector=True, student_channels=96, teacher_channels=320),
    con_loss=dict(type='DenseConsistencyLoss', tau=1.0, detach_target=True))

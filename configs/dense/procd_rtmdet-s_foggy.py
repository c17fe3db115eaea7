# ProC-KD row of Foggy Cityscapes for the RTMDet-s student of rtmdet-s_foggy.py, beyond the paper
# (docs/method.md, "Dense students", "Teacher and student that differ"). The frozen COCO
# Cascade Mask R-CNN Swin-B teacher of the paper rows (FPN 256, P2-P6, RGB) into RTMDet-s
# (PAFPN 128, P3-P5, BGR), with RTMDet's own data pipeline and schedule: CWD on the three
# student levels, each against the teacher level of its stride through a 1x1 connector
# (128 -> 256); the prototype path on the stride-32 level; λ = 1/1/1.
#   tools/dist_train.sh configs/dense/procd_rtmdet-s_foggy.py 8
_base_ = './rtmdet-s_foggy.py'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ProCKD',
    architecture=dict(cfg_path='configs/dense/rtmdet-s_foggy.py'),
    teacher=dict(cfg_path='configs/_base_/models/cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py'),
    teacher_ckpt='checkpoints/cascade_mask_rcnn_swin-b_coco_procd.pth',
    emb_loss=dict(type='CWDEmbeddingLoss', tau=1.0, loss_weights=10.0, levels=(0, 1, 2),
                  use_connector=True, student_channels=128, teacher_channels=256),
    con_loss=dict(type='DenseConsistencyLoss', tau=1.0, detach_target=True))

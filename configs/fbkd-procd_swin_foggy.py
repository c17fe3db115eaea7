# FBKD-ProC-KD row of Foggy Cityscapes (paper Table II, 49.9 mAP): ProC-KD with the
# TinyBERT-style Swin backbone distillation (paper Eq. 5, SPEC §2 default block pairs:
# stage 3, student blocks 0-5 <-> teacher blocks 2, 5, ..., 17) as L_emb instead of CWD.
#   tools/dist_train.sh configs/fbkd-procd_swin_foggy.py 8
_base_ = './procd_swin_foggy.py'

model = dict(
    emb_loss=dict(
        _delete_=True,
        type='SwinFBKDEmbeddingLoss',
        stage=2,
        student_blocks=(0, 1, 2, 3, 4, 5),
        teacher_blocks=(2, 5, 8, 11, 14, 17)))

# FBKD-ProC-KD row of Foggy Cityscapes (paper Table II, 49.9 mAP): ProC-KD with the
# TinyBERT-style Swin backbone distillation (paper Eq. 5; block pairs: stage 3, student
# blocks 0-5 <-> teacher blocks 2, 5, ..., 17) as L_emb instead of CWD.
# Hidden features only (attn_weight=0: no attention-map term, hooks or records): for the
# detection tables the paper states "we only distill the hidden features of the backbone"
# (section IV-A, with Table II); the attention-map term of Eq. 5 is for its classification
# transformers.
#   tools/dist_train.sh configs/fbkd-procd_swin_foggy.py 8
_base_ = './procd_swin_foggy.py'

model = dict(
    emb_loss=dict(
        _delete_=True,
        type='SwinFBKDEmbeddingLoss',
        stage=2,
        student_blocks=(0, 1, 2, 3, 4, 5),
        teacher_blocks=(2, 5, 8, 11, 14, 17),
        attn_weight=0.0,
        hidden_weight=1.0))

# FBOD row of Foggy Cityscapes (paper Table II, 48.9 mAP): the feature-based detector
# distillation of Zhang & Ma (ICLR 2021) on FPN levels as L_emb, without the prototype path.
#   tools/dist_train.sh configs/fbod_swin_foggy.py 8
_base_ = './procd_swin_foggy.py'

model = dict(emb_loss=dict(_delete_=True, type='FBODEmbeddingLoss'), lambda_pro=0.0)

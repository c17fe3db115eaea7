# FBOD row of the same-task setting (paper Table VI, 41.5 AP): Zhang & Ma's feature
# distillation on FPN levels as L_emb, without the prototype path.
#   tools/dist_train.sh configs/fbod_x101_r50_coco.py 8
_base_ = './procd_x101_r50_coco.py'

model = dict(emb_loss=dict(_delete_=True, type='FBODEmbeddingLoss'), lambda_pro=0.0)

# Table IX row 5 (paper: 52.5 mAP): ProC-KD on Foggy Cityscapes with
# λ_emb = 1.0, λ_pro = 0.5, λ_stu = 1.0 (paper Eq. 7).
#   tools/dist_train.sh configs/ablations/procd-lambda-row05_swin_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(lambda_emb=1.0, lambda_pro=0.5, lambda_stu=1.0)

# Table IX row 4 (paper: 50.7 mAP): ProC-KD on Foggy Cityscapes with
# λ_emb = 0.5, λ_pro = 1.0, λ_stu = 1.0 (paper Eq. 7).
#   tools/dist_train.sh configs/ablations/procd-lambda-row04_swin_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(lambda_emb=0.5, lambda_pro=1.0, lambda_stu=1.0)

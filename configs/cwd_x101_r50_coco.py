# CWD row of the same-task setting (paper Table VI, 41.7 AP): procd_x101_r50_coco.py without
# the prototype path (λ_pro = 0).
#   tools/dist_train.sh configs/cwd_x101_r50_coco.py 8
_base_ = './procd_x101_r50_coco.py'

model = dict(lambda_pro=0.0)

# CWD row for the RetinaNet R-50 student: procd_retinanet_r50_foggy.py without the prototype path.
#   tools/dist_train.sh configs/dense/cwd_retinanet_r50_foggy.py 8
_base_ = './procd_retinanet_r50_foggy.py'

model = dict(lambda_pro=0.0)

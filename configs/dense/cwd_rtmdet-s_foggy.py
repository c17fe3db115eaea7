# CWD row for the RTMDet-s student: procd_rtmdet-s_foggy.py without the prototype path.
#   tools/dist_train.sh configs/dense/cwd_rtmdet-s_foggy.py 8
_base_ = './procd_rtmdet-s_foggy.py'

model = dict(lambda_pro=0.0)

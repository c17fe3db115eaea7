# CWD for the RTMDet-tiny <- RTMDet-x pair: procd_rtmdet-tiny_rtmdet-x_foggy.py without the
# prototype path.
#   tools/dist_train.sh configs/dense/cwd_rtmdet-tiny_rtmdet-x_foggy.py 8
_base_ = './procd_rtmdet-tiny_rtmdet-x_foggy.py'

model = dict(lambda_pro=0.0)

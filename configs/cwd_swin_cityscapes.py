# CWD row (channel-wise distillation on all FPN levels, docs/method.md): ProC-KD without the
# prototype path (λ_pro = 0), everything else as procd_swin_cityscapes.py.
#   tools/dist_train.sh configs/cwd_swin_cityscapes.py 8
_base_ = './procd_swin_cityscapes.py'

model = dict(lambda_pro=0.0)

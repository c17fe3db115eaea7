# FBKD row of Foggy Cityscapes (paper Table II, 48.9 mAP): the Swin backbone distillation of
# fbkd-procd_swin_foggy.py (hidden features only, attn_weight=0, as the paper's detection
# experiments do) without the prototype path (λ_pro = 0).
#   tools/dist_train.sh configs/fbkd_swin_foggy.py 8
_base_ = './fbkd-procd_swin_foggy.py'

model = dict(lambda_pro=0.0)

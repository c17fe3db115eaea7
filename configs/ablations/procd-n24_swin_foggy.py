# Table VIII: ProC-KD on Foggy Cityscapes with n = 24 prototypes (the paper's default is 72).
#   tools/dist_train.sh configs/ablations/procd-n24_swin_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(prototype_learning=dict(num_prototypes=24))

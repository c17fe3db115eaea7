# Table VIII: ProC-KD on Foggy Cityscapes with n = 72 prototypes (the paper's default is 72).
#   tools/dist_train.sh configs/ablations/procd-n72_swin_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(prototype_learning=dict(num_prototypes=72))

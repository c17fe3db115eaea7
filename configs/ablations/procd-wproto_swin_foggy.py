# Table VII "ProC-KD (w/proto)" (52.4 mAP): the prototype learning module alone. Its output
# PL(P5_T) goes to the student's RoI heads without the feature augmentation module; there is
# no student path and no L_con (docs/method.md).
#   tools/dist_train.sh configs/ablations/procd-wproto_swin_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(feature_augmentation=None)

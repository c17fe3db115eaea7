# Table VII "ProC-KD (w/proto)" (52.4 mAP): the prototype learning module on the teacher path
# only; the student's features are not augmented (no Ô_S, no L_con). SPEC §3.3.
#   tools/dist_train.sh configs/ablations/procd-wproto_swin_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(augment_student=False)

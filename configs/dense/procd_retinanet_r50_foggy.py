# ProC-KD row of Foggy Cityscapes for the RetinaNet R-50 student of retinanet_r50_foggy.py,
# beyond the paper (docs/method.md, "Dense students"): the paper row procd_swin_foggy.py with
# RetinaNet as the student. Its P3-P6 are read against the teacher's levels of the same
# strides (its P7, stride 128, has none and is not distilled); the prototype path runs on its
# stride-32 level (index 2).
#   tools/dist_train.sh configs/dense/procd_retinanet_r50_foggy.py 8
_base_ = '../procd_swin_foggy.py'

model = dict(
    architecture=dict(cfg_path='configs/dense/retinanet_r50_foggy.py'),
    emb_loss=dict(levels=(0, 1, 2, 3)),
    prototype_level=None,
    con_loss=dict(_delete_=True, type='DenseConsistencyLoss', tau=1.0, detach_target=True))

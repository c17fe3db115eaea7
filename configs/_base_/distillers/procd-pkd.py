# ProC-KD with mmrazor's PKDLoss (Pearson-correlation feature imitation, arXiv 2207.02039) on
# the FPN outputs as L_emb instead of CWD; the prototype path and the λ of Eq. 7 are those of
# procd.py (docs/method.md). PKD settings are mmrazor's for Faster R-CNN: levels 0-3, weight 6.
# A row uses it in place of procd.py, e.g. for Foggy Cityscapes:
#   _base_ = ['../_base_/distillers/procd-pkd.py', <dataset>, <schedule>, <runtime>]
#   model = dict(architecture=dict(cfg_path='configs/student_swin_foggy.py'),
#                teacher=..., teacher_ckpt=...)   # as procd_swin-b_coco_teacher.py
# Any other mmrazor feature loss goes here the same way: recorders on modules of the student
# and of the teacher (names relative to the detector: 'neck', 'backbone.stages.2.blocks.0',
# 'neck.fpn_convs.0.conv', ...), the losses, optional connectors (a generator or a channel
# adapter trained with the student, e.g. MGDConnector, ConvModuleConnector) and the mapping of
# each loss's forward arguments to records, as in mmrazor's ConfigurableDistiller.
# Each loss is logged as loss_emb_<its name without "loss_">. The PKD terms themselves are in
# pkd_emb_loss.py.
_base_ = ['./procd.py', './pkd_emb_loss.py']

model = dict(emb_loss=dict(_delete_=True, **_base_.pkd_emb_loss))

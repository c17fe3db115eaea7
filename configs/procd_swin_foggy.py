# ProC-KD row of Foggy Cityscapes (paper Tables II, VII and IX, 53.7 mAP): the Swin-T student of
# student_swin_foggy.py distilled from the frozen COCO Swin-B teacher with
# L = λ_emb·L_cwd + λ_pro·(L_con + L_procls) + λ_stu·L_stu (paper Eq. 7, SPEC §2-3).
#   tools/dist_train.sh configs/procd_swin_foggy.py 8
_base_ = ['./student_swin_foggy.py', './_base_/distillers/swin-b_coco_teacher.py']

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ProCKD',
    architecture={{_base_.model}},
    teacher={{_base_.teacher_cfg}},
    teacher_ckpt={{_base_.teacher_ckpt}},
    emb_loss=dict(type='CWDEmbeddingLoss', tau=1.0, loss_weights=10.0, levels=(0, 1, 2, 3, 4)),
    prototype_level=3,
    num_prototypes=72,
    lambda_emb=1.0,
    lambda_pro=1.0,
    lambda_stu=1.0,
    tau_con=1.0,
    detach_target=True,
    augment_student=True)
find_unused_parameters = True

# ProC-KD row of the same-task setting (paper Table VI, 42.1 AP): Faster R-CNN R50 distilled on
# COCO from mmdet's model-zoo Cascade Mask R-CNN X101-64x4d (also trained on COCO), with CWD as
# L_emb and the prototype path on FPN level 3.
#   tools/dist_train.sh configs/procd_x101_r50_coco.py 8
_base_ = ['./student_r50_coco.py']

teacher_ckpt = ('https://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/'
                'cascade_mask_rcnn_x101_64x4d_fpn_20e_coco/'
                'cascade_mask_rcnn_x101_64x4d_fpn_20e_coco_20200512_161033-bdb5126a.pth')
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ProCKD',
    architecture={{_base_.model}},
    teacher=dict(cfg_path='mmdet::cascade_rcnn/cascade-mask-rcnn_x101-64x4d_fpn_20e_coco.py'),
    teacher_ckpt=teacher_ckpt,
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

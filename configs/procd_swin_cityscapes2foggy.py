# ProC-KD row of Cityscapes -> Foggy Cityscapes (paper Table III, 36.3 mAP): the Swin-T student of
# student_swin_cityscapes2foggy.py distilled from the frozen COCO Swin-B teacher with
# L = λ_emb·L_cwd + λ_pro·(L_con + L_procls) + λ_stu·L_stu (paper Eq. 7, docs/method.md).
#   tools/dist_train.sh configs/procd_swin_cityscapes2foggy.py 8
_base_ = [
    './_base_/distillers/procd_swin-b_coco_teacher.py',
    './_base_/datasets/cityscapes_to_foggy_detection.py',
    './_base_/schedules/sgd_36e.py',
    './_base_/default_runtime.py',
]

model = dict(architecture=dict(cfg_path='configs/student_swin_cityscapes2foggy.py'))

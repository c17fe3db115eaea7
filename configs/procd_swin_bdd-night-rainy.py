# ProC-KD row of BDD100k Daytime-sunny -> Night-rainy (paper Table IV, 27.9 mAP):
# the Swin-T student of student_swin_bdd-night-rainy.py
# distilled from the frozen COCO Swin-B teacher with
# L = λ_emb·L_cwd + λ_pro·(L_con + L_procls) + λ_stu·L_stu (paper Eq. 7, docs/method.md).
#   tools/dist_train.sh configs/procd_swin_bdd-night-rainy.py 8
_base_ = [
    './_base_/distillers/procd_swin-b_coco_teacher.py',
    './_base_/datasets/bdd_daytime_sunny_to_night_rainy.py',
    './_base_/schedules/sgd_36e.py',
    './_base_/default_runtime.py',
]

model = dict(architecture=dict(cfg_path='configs/student_swin_bdd-night-rainy.py'))

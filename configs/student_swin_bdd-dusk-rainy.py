# Student row of BDD100k Daytime-sunny -> Dusk-rainy (paper Table IV):
# Cascade R-CNN Swin-T trained alone.
#   tools/dist_train.sh configs/student_swin_bdd-dusk-rainy.py 8
_base_ = [
    './_base_/models/cascade-rcnn_swin-t-p4-w7_fpn_bdd.py',
    './_base_/datasets/bdd_daytime_sunny_to_dusk_rainy.py',
    './_base_/schedules/sgd_36e.py',
    './_base_/default_runtime.py',
]

# BDD100k Diverse-Weather: train Daytime-sunny, val/test Dusk-rainy (paper Sec. IV-A).
# Everything but the target split is shared with the Night-rainy config; see
# there for the converter command and how to switch to the VOC-XML release
# (target set 'dusk_rainy/VOC2007/').
_base_ = './bdd_daytime_sunny_to_night_rainy.py'

target_ann_file = 'annotations/dusk_rainy.json'
val_dataloader = dict(dataset=dict(ann_file=target_ann_file))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='data/bdd100k/' + target_ann_file)
test_evaluator = val_evaluator

# Synthetic Cityscapes with the tiny students' label space (person, rider, motorcycle, bicycle):
# disjoint from the synthetic teacher's (configs/synthetic/teacher_tiny.py).
_base_ = './synthetic_cityscapes_detection.py'

classes = ('person', 'rider', 'motorcycle', 'bicycle')
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

# A tiny RTMDet student (mmdet's RTMDet-tiny, P3-P5) on the synthetic data, 4 classes; ~1 min
# on CPU. Boxes only: with instance masks RTMDet's assigner would take mask centres (RTMDet-Ins).
#   python tools/train.py configs/synthetic/student-rtmdet_tiny.py
_base_ = [
    '../_base_/models/rtmdet-tiny_synthetic.py',
    '../_base_/datasets/synthetic_cityscapes_student_classes.py',
    '../_base_/tiny_cpu_runtime.py',
]

train_pipeline = _base_.train_pipeline
train_pipeline[1].update(with_mask=False)  # LoadAnnotations
test_pipeline = _base_.test_pipeline
test_pipeline[2].update(with_mask=False)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

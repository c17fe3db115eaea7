# student-rtmdet_tiny.py on all 8 Cityscapes classes: the RTMDet student of the demo's paper
# regime (python -m demo --student rtmdet; docs/demo.md).
#   python tools/train.py configs/synthetic/student-paper-rtmdet_tiny.py
_base_ = ['./student-rtmdet_tiny.py']

classes = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

# student_tiny.py on all 8 Cityscapes classes: the student of the demo's paper regime
# (docs/demo.md), taught by configs/synthetic/teacher-paper_tiny.py.
#   python tools/train.py configs/synthetic/student-paper_tiny.py
_base_ = ['./student_tiny.py']

classes = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
num_classes = len(classes)
model = dict(roi_head=dict(
    bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
    mask_head=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

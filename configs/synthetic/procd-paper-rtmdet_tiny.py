# procd-rtmdet_tiny.py in the demo's paper regime (python -m demo --student rtmdet;
# docs/demo.md): the COCO-like teacher (teacher-paper_tiny.py) into the RTMDet student on all
# 8 classes (student-paper-rtmdet_tiny.py).
#   python tools/train.py configs/synthetic/teacher-paper_tiny.py
#   python tools/train.py configs/synthetic/procd-paper-rtmdet_tiny.py
_base_ = ['./procd-rtmdet_tiny.py']

classes = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
model = dict(
    architecture=dict(cfg_path='configs/synthetic/student-paper-rtmdet_tiny.py'),
    teacher=dict(cfg_path='configs/synthetic/teacher-paper_tiny.py'),
    teacher_ckpt='work_dirs/teacher-paper_tiny/iter_2000.pth')
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

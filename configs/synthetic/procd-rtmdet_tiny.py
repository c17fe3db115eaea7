# procd_tiny.py with the tiny RTMDet student (docs/method.md, "Dense students", "Teacher and
# student that differ"): CWD on its P3-P5 against the teacher levels of the same strides
# through 1x1 connectors (96 -> 64), the prototype path on its stride-32 level (index 2, the
# teacher's index 3) with a 64 -> 96 projection; the teacher gets its own RGB normalisation
# from the student's BGR batch.
#   python tools/train.py configs/synthetic/procd-rtmdet_tiny.py
_base_ = './procd_tiny.py'

model = dict(
    architecture=dict(cfg_path='configs/synthetic/student-rtmdet_tiny.py'),
    emb_loss=dict(levels=(0, 1, 2), use_connector=True, student_channels=96,
                  teacher_channels=64),
    prototype_level=None,
    con_loss=dict(_delete_=True, type='DenseConsistencyLoss', tau=1.0, detach_target=True))
# the student's boxes-only pipeline (student-rtmdet_tiny.py)
train_pipeline = _base_.train_pipeline
train_pipeline[1].update(with_mask=False)
test_pipeline = _base_.test_pipeline
test_pipeline[2].update(with_mask=False)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

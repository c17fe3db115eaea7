"""Embedding-distillation terms ``L_emb`` (docs/method.md), one registered class per file.

All share one interface: ``attach(student, teacher)`` once at build time (recorders,
build-time validation), then ``forward(student_feats, teacher_feats)`` with the
FPN outputs of both detectors, returning a dict of ``loss_emb_<kind>_...`` terms.
Terms that read other tensors (``ConfigurableEmbeddingLoss``, ``SwinFBKDEmbeddingLoss``)
record them with mmrazor recorders inside ``teacher_recording()`` /
``student_recording()``, which ``ProCKD.loss`` opens around the teacher's
``extract_feat`` and the student's forward.
"""
from .configurable_embedding_loss import ConfigurableEmbeddingLoss
from .cwd_embedding_loss import CWDEmbeddingLoss
from .dense_consistency_loss import DenseConsistencyLoss
from .fbod_embedding_loss import FBODEmbeddingLoss
from .roi_consistency_loss import RoIConsistencyLoss
from .swin_fbkd_embedding_loss import SwinFBKDEmbeddingLoss

__all__ = [
    'ConfigurableEmbeddingLoss', 'CWDEmbeddingLoss', 'DenseConsistencyLoss', 'FBODEmbeddingLoss',
    'RoIConsistencyLoss', 'SwinFBKDEmbeddingLoss'
]

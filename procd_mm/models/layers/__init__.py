"""Layers the pinned stack lacks."""
from .cpu_sync_batchnorm import CPUSyncBatchNorm

__all__ = ['CPUSyncBatchNorm']

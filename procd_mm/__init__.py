"""procd-mm: Prototype-guided Cross-task Knowledge Distillation for MMDetection.

Importing this package (``custom_imports=dict(imports=['procd_mm'])``) first
repairs the pinned stack (:mod:`procd_mm.compat`), then registers the project's
datasets, metrics, models and hooks in the mmdet / mmrazor registries.
"""
from . import compat

compat.apply()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'

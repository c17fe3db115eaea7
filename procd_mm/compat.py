"""Compatibility of the pinned OpenMMLab stack with torch 2.13.

Four known breakages are repaired here, and nowhere else:

1. mmrazor 1.0.0 imports its quantization backend configs eagerly; they use
   ``torch.ao.quantization`` names removed in torch 2.x, so ``import mmrazor.models``
   fails. Distillation never uses quantization, so an empty stand-in module is
   registered for ``mmrazor.structures.quantization.backend_config`` before
   mmrazor's first import. Its ``BackendConfigs`` is empty: asking mmrazor for a
   quantization backend raises ``KeyError`` naming that backend.
2. torch >= 2.6 loads checkpoints with ``weights_only=True``. mmengine checkpoints
   pickle a few plain types besides tensors (the message hub's ``HistoryBuffer``,
   numpy scalars and arrays in ``meta``, ``collections.Counter``). Exactly those
   types are added to torch's safe-globals allow-list; ``weights_only`` stays on,
   so a checkpoint holding any other object is still refused. ``HistoryBuffer``
   pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; instead
   of allowing the builtin ``getattr`` (which would reach anything), the name is
   bound to :func:`history_buffer_getattr`, which resolves only those methods.
3. mmdet 3.3's ``SingleRoIExtractor.forward`` casts the RoIs to the feature dtype
   before ``map_roi_levels``; under fp16 autocast ``w * h`` overflows for
   sqrt(area) > 256 and every such RoI is sent to the top level instead of
   ``floor(log2(sqrt(area) / finest_scale))``. The mapping is made in float32 (of
   the RoIs as the extractor holds them), so fp16 and float32 runs read the same
   levels (docs/method.md, "Level mapping").

4. mmengine 0.10.7 resolves ``pkg::folder/file.py`` (in ``_base_`` and in ``cfg_path``) only
   for the packages of its fixed ``MODULE2PACKAGE`` table. ``procd_mm`` is added to it, so
   that a config anywhere can inherit ``procd_mm::_base_/distillers/procd.py`` or name
   ``cfg_path='procd_mm::_base_/models/...'``, read from the installed package's
   ``.mim/configs`` (the repository's ``configs/``). mmengine finds a package's folder with
   ``get_installed_path``, from the distribution's location; an editable install (pip's
   PEP 660 finder, ``make setup``) has no folder there, so for ``procd_mm`` the folder is
   taken from where Python imports it.

Every other upstream detail the project relies on beyond public APIs (a private name, a
signature, a message format) is listed with these four in :mod:`procd_mm.compat_seams`,
each with a check that fails when a release changes it; importing ``procd_mm`` on versions
other than the pinned ones warns, naming the seams to re-check.
"""
import collections
import inspect
import pickle
import sys
import types

import numpy as np
import torch

from .compat_seams import BACKEND_CONFIG_MODULE, check_versions


def install_mmrazor_stub() -> None:
    """Register the quantization stand-in; harmless once mmrazor is imported."""
    if BACKEND_CONFIG_MODULE in sys.modules:
        return
    stub = types.ModuleType(BACKEND_CONFIG_MODULE)
    stub.__doc__ = 'procd_mm stand-in: quantization backends are unavailable.'
    stub.BackendConfigs = {}
    stub.__all__ = ['BackendConfigs']
    sys.modules[BACKEND_CONFIG_MODULE] = stub


def history_buffer_getattr(obj, name: str):
    """``getattr`` as allowed while unpickling: ``HistoryBuffer`` methods only."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and inspect.isfunction(vars(HistoryBuffer).get(name)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer methods are allowed')


def checkpoint_safe_globals() -> list:
    """The non-tensor types an mmengine 0.10 checkpoint contains."""
    from mmengine.logging import HistoryBuffer
    dtype_classes = [type(np.dtype(t)) for t in np.typecodes['All'] if t != 'M' and t != 'm']
    return [
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        (history_buffer_getattr, '__builtin__.getattr'),
        collections.Counter,
        np.core.multiarray.scalar,
        np.core.multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        *dtype_classes,
    ]


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints."""
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def map_roi_levels_in_float32() -> None:
    """Make mmdet's ``SingleRoIExtractor.map_roi_levels`` compute areas in float32."""
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    mmdet_map = SingleRoIExtractor.map_roi_levels
    if getattr(mmdet_map, 'float32_levels', False):
        return

    def map_roi_levels(self, rois, num_levels):
        return mmdet_map(self, rois.float(), num_levels)

    map_roi_levels.__doc__ = mmdet_map.__doc__
    map_roi_levels.float32_levels = True
    SingleRoIExtractor.map_roi_levels = map_roi_levels


def register_config_scope() -> None:
    """Let mmengine resolve ``procd_mm::folder/file.py`` from the installed package."""
    import importlib.util
    import os.path as osp

    from mmengine.config import config, utils
    from mmengine.hub import hub
    utils.MODULE2PACKAGE.setdefault('procd_mm', 'procd_mm')
    mmengine_path = config.get_installed_path
    if getattr(mmengine_path, 'procd_mm_folder', False):
        return

    def get_installed_path(package: str) -> str:
        if package == 'procd_mm':
            return osp.dirname(importlib.util.find_spec('procd_mm').origin)
        return mmengine_path(package)

    get_installed_path.procd_mm_folder = True
    config.get_installed_path = hub.get_installed_path = get_installed_path


def apply() -> None:
    check_versions()
    install_mmrazor_stub()
    allow_mmengine_checkpoints()
    map_roi_levels_in_float32()
    register_config_scope()

"""Any mmrazor feature-distillation loss as ``L_emb``, configured like mmrazor's
``ConfigurableDistiller`` (docs/method.md, "Total loss")."""
import copy
import warnings
from typing import Dict, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.task_modules import RecorderManager
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils import InputError

from ._recording import RecordingMixin, autocast_disabled, buffers_to_float32

OWNER = 'ConfigurableEmbeddingLoss'
RECORD_KEYS = {'recorder', 'from_student', 'record_idx', 'data_idx', 'connector',
               'connector_idx'}


def emb_loss_name(name: str) -> str:
    """The logged name of distill loss ``name``: ``loss_x`` and ``x`` become ``loss_emb_x``."""
    if name.startswith('loss_emb_'):
        return name
    return 'loss_emb_' + (name[len('loss_'):] if name.startswith('loss_') else name)


@MODELS.register_module()
class ConfigurableEmbeddingLoss(RecordingMixin, BaseModule):
    """``L_emb`` (paper Eq. 7) from any mmrazor distillation loss, recorders and connectors.

    In `arXiv 2212.13180 <https://arxiv.org/abs/2212.13180>`_ the feature term of Eq. 7 is
    an exchangeable feature-distillation loss (the tables use CWD, FBOD and FBKD); this class
    lets a config put any mmrazor loss there, ProC-KD's prototype path unchanged. The
    arguments are those of mmrazor's :class:`ConfigurableDistiller` (which is built inside and
    does the work: ``self.distiller``): recorders on modules of the student and of the teacher
    (names relative to the detector, e.g. ``'neck'``, ``'backbone.stages.2.blocks.0'``),
    connectors, losses and the ``loss_forward_mappings`` between loss arguments and records
    (``from_student``, ``recorder``, optional ``record_idx``, ``data_idx``, ``connector``,
    ``connector_idx``). Deliveries are not supported.

    ``ProCKD`` opens :meth:`teacher_recording` around the teacher's ``extract_feat`` (under
    ``torch.no_grad()``; the records are detached) and :meth:`student_recording` around the
    student's forward; recorders record nothing outside those contexts (so neither in
    evaluation nor during a gradient-checkpoint recompute in the backward pass).
    :meth:`forward` computes every loss from the records, then drops them. With ``float32``
    the recorded floating tensors are cast to float32 and connectors and losses run with
    autocast disabled.

    Each distill loss is logged as ``loss_emb_<name>``, where ``<name>`` is its key without a
    leading ``loss_`` (``loss_pkd_fpn0`` -> ``loss_emb_pkd_fpn0``). Connectors are trained with
    the student; the teacher receives no gradient.

    Example (mmrazor's PKD on the five FPN outputs)::

        emb_loss = dict(
            type='ConfigurableEmbeddingLoss',
            student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
            teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
            distill_losses={f'loss_pkd_fpn{i}': dict(type='PKDLoss', loss_weight=6.0)
                            for i in range(5)},
            loss_forward_mappings={
                f'loss_pkd_fpn{i}': dict(
                    preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                    preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
                for i in range(5)})

    Args:
        student_recorders (dict): name -> mmrazor recorder config on the student.
        teacher_recorders (dict): name -> mmrazor recorder config on the teacher.
        distill_losses (dict): name -> mmrazor (or ``mmdet.``-scoped) loss config.
        loss_forward_mappings (dict): name -> {forward argument -> record spec}; one entry per
            distill loss.
        connectors (dict, optional): name -> connector config (or list of configs, chained).
        float32 (bool): Compute connectors and losses in float32. Defaults to True.
        init_cfg (dict, optional): mmengine initialisation config.

    Returns from :meth:`forward`: ``{'loss_emb_<name>': Tensor}`` per distill loss.
    """

    owner = OWNER

    def __init__(self,
                 student_recorders: Dict[str, Dict],
                 teacher_recorders: Dict[str, Dict],
                 distill_losses: Dict[str, Dict],
                 loss_forward_mappings: Dict[str, Dict],
                 connectors: Optional[Dict] = None,
                 float32: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('student_recorders', student_recorders),
                            ('teacher_recorders', teacher_recorders),
                            ('distill_losses', distill_losses),
                            ('loss_forward_mappings', loss_forward_mappings)):
            if not isinstance(value, dict) or not value:
                raise InputError(f'{OWNER}: {name} must be a non-empty dict, got {value!r}')
        if connectors is not None and not isinstance(connectors, dict):
            raise InputError(f'{OWNER}: connectors must be a dict or None, got {connectors!r}')
        if set(loss_forward_mappings) != set(distill_losses):
            raise InputError(f'{OWNER}: loss_forward_mappings keys {sorted(loss_forward_mappings)} '
                             f'must be the distill_losses keys {sorted(distill_losses)}')
        self._check_record_specs(loss_forward_mappings, student_recorders, teacher_recorders,
                                 connectors or {})
        self.loss_names = {name: emb_loss_name(name) for name in distill_losses}
        if len(set(self.loss_names.values())) != len(self.loss_names):
            raise InputError(f'{OWNER}: distill_losses keys {sorted(distill_losses)} give '
                             f'repeated logged names {sorted(self.loss_names.values())}')
        self.float32 = bool(float32)

        # Built in mmrazor's scope, whatever the caller's default scope (mmdet in a runner).
        with DefaultScope.overwrite_default_scope('mmrazor'), warnings.catch_warnings():
            # every logged name contains "loss" (loss_emb_ prefix), whatever the key
            warnings.filterwarnings('ignore', message='Warning: If .* must contain "loss"')
            try:
                self.distiller = ConfigurableDistiller(
                    student_recorders=copy.deepcopy(student_recorders),
                    teacher_recorders=copy.deepcopy(teacher_recorders),
                    connectors=copy.deepcopy(connectors),
                    distill_losses=copy.deepcopy(distill_losses),
                    loss_forward_mappings=copy.deepcopy(loss_forward_mappings))
            except AssertionError as err:
                raise InputError(f'{OWNER}: {err}') from None

    @staticmethod
    def _check_record_specs(mappings: Dict, student_recorders: Dict, teacher_recorders: Dict,
                            connectors: Dict) -> None:
        for loss_name, mapping in mappings.items():
            if not isinstance(mapping, dict) or not mapping:
                raise InputError(f'{OWNER}: loss_forward_mappings[{loss_name!r}] must be a '
                                 f'non-empty dict of forward argument -> record, got {mapping!r}')
            for arg, spec in mapping.items():
                where = f'loss_forward_mappings[{loss_name!r}][{arg!r}]'
                if not isinstance(spec, dict) or not {'recorder', 'from_student'} <= set(spec):
                    raise InputError(f'{OWNER}: {where} must be a dict with recorder and '
                                     f'from_student, got {spec!r}')
                unknown = set(spec) - RECORD_KEYS
                if unknown:
                    raise InputError(f'{OWNER}: {where} has unknown keys {sorted(unknown)}; '
                                     f'allowed: {sorted(RECORD_KEYS)}')
                if not isinstance(spec['from_student'], bool):
                    raise InputError(f'{OWNER}: {where}: from_student must be True or False, '
                                     f'got {spec["from_student"]!r}')
                role = 'student' if spec['from_student'] else 'teacher'
                recorders = student_recorders if spec['from_student'] else teacher_recorders
                if spec['recorder'] not in recorders:
                    raise InputError(f'{OWNER}: {where}: {spec["recorder"]!r} is not one of the '
                                     f'{role}_recorders {sorted(recorders)}')
                if spec.get('connector') is not None and spec['connector'] not in connectors:
                    raise InputError(f'{OWNER}: {where}: connector {spec["connector"]!r} is not '
                                     f'one of the connectors {sorted(connectors)}')

    def recorder_managers(self) -> Tuple[RecorderManager, RecorderManager]:
        return self.distiller.student_recorders, self.distiller.teacher_recorders

    @property
    def connectors(self) -> nn.ModuleDict:
        """The distiller's connectors (trained with the student)."""
        return self.distiller.connectors

    def attach(self, student: nn.Module, teacher: nn.Module) -> None:
        """Register the recorders on the student and the teacher (once)."""
        for role, detector in (('student', student), ('teacher', teacher)):
            if not isinstance(detector, nn.Module):
                raise TypeError(f'{OWNER}.attach: {role} must be an nn.Module (an mmdet '
                                f'detector), got {type(detector).__name__}')
        self._initialize_recorders(student, teacher)

    def _check_recorded(self) -> None:
        missing = []
        for mapping in self.distiller.loss_forward_mappings.values():
            for spec in mapping.values():
                role = 'student' if spec['from_student'] else 'teacher'
                manager = self.recorder_managers()[0 if spec['from_student'] else 1]
                recorder = manager.get_recorder(spec['recorder'])
                if len(recorder.data_buffer) <= spec.get('record_idx', 0):
                    what = f'{role} recorder {spec["recorder"]!r} ({recorder.source})'
                    if what not in missing:
                        missing.append(what)
        if missing:
            raise RuntimeError(f'{OWNER}: nothing recorded by {", ".join(missing)}; run the '
                               f'teacher inside teacher_recording() and the student inside '
                               f'student_recording() before each forward()')

    def forward(self, student_feats: Sequence[Tensor] = (),
                teacher_feats: Sequence[Tensor] = ()) -> Dict[str, Tensor]:
        """Every distill loss on the records (the FPN arguments are not used); drops them."""
        self._require_attached()
        try:
            self._check_recorded()
            device_type = buffers_to_float32(*self.recorder_managers()) if self.float32 \
                else None
            losses = {}
            with autocast_disabled(device_type):
                # mmrazor's ConfigurableDistiller.compute_distill_losses, with the loss named
                # in errors and the logged names prefixed
                for name, mapping in self.distiller.loss_forward_mappings.items():
                    try:
                        kwargs = {arg: self.distiller.get_record(**spec)
                                  for arg, spec in mapping.items()}
                        value = self.distiller.distill_losses[name](**kwargs)
                    except AssertionError as err:
                        raise ValueError(f'{OWNER}: distill loss {name!r}: {err}') from None
                    losses[self.loss_names[name]] = value
        finally:
            self.reset_records()
        return losses

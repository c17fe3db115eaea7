"""L_emb from any mmrazor feature loss: ConfigurableEmbeddingLoss (recorders, connectors and
loss mappings of mmrazor's ConfigurableDistiller), in ProCKD and through tools/train.py."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

import procd_mm  # noqa: F401
from procd_mm.models import ConfigurableEmbeddingLoss, CWDEmbeddingLoss
from tests.conftest import REPO, data_options
from tests.test_models.test_procd_distiller import losses_of, two_images
from tests.test_procd_training import logged_scalars
from tests.tool_zygote import tool_runner

PKDLoss = MODELS.get('PKDLoss')  # mmrazor's (imported once procd_mm repaired the stack)
PKD_TINY = f'{REPO}/configs/synthetic/procd-pkd_tiny.py'
MGD_TINY = f'{REPO}/configs/synthetic/procd-mgd_tiny.py'


class Pyramid(nn.Module):
    """Two levels: the input map and its 2x average pool, through one 1x1 conv each."""

    def __init__(self, channels):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(2))

    def forward(self, x):
        return self.convs[0](x), self.convs[1](F.avg_pool2d(x, 2))


class TinyDetector(nn.Module):

    def __init__(self, channels):
        super().__init__()
        self.backbone = nn.Conv2d(3, channels, 3, padding=1)
        self.neck = Pyramid(channels)

    def forward(self, x):
        return self.neck(self.backbone(x))


def pair(s_channels=4, t_channels=4):
    torch.manual_seed(0)
    student, teacher = TinyDetector(s_channels), TinyDetector(t_channels)
    teacher.eval().requires_grad_(False)
    return student, teacher


def fpn_cfg(loss_cfg, levels=(0, 1), name='loss_x_p{}', connectors=None, s_connector=None):
    """Recorders on 'neck', one loss per level (optionally a student connector per level)."""
    return dict(
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        connectors=connectors,
        distill_losses={name.format(i): copy.deepcopy(loss_cfg) for i in levels},
        loss_forward_mappings={
            name.format(i): dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i,
                             **({'connector': s_connector.format(i)} if s_connector else {})),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in levels
        })


def record(loss, student, teacher, images):
    """As ProCKD.loss: the teacher under no_grad, then the student, each in its context."""
    with torch.no_grad(), loss.teacher_recording():
        t_feats = teacher(images)
    with loss.student_recording():
        s_feats = student(images)
    return s_feats, t_feats


def test_cwd_as_a_config_gives_cwd_embedding_loss_values_and_names():
    student, teacher = pair()
    cfg = fpn_cfg(dict(type='ChannelWiseDivergence', tau=2.0, loss_weight=10.0),
                  name='loss_cwd_p{}')
    loss = MODELS.build(dict(type='ConfigurableEmbeddingLoss', _scope_='mmrazor', **cfg))
    loss.attach(student, teacher)
    s_feats, t_feats = record(loss, student, teacher, torch.randn(2, 3, 8, 8))
    out = loss()
    expected = CWDEmbeddingLoss(tau=2.0, loss_weights=10.0, levels=(0, 1))(s_feats, t_feats)
    assert list(out) == ['loss_emb_cwd_p0', 'loss_emb_cwd_p1'] == list(expected)
    for key in out:
        torch.testing.assert_close(out[key], expected[key])
        assert out[key].requires_grad and out[key] > 0


def test_records_only_inside_contexts_teacher_detached_records_dropped():
    student, teacher = pair()
    loss = ConfigurableEmbeddingLoss(**fpn_cfg(dict(type='PKDLoss'), name='pkd_p{}'))
    assert loss.loss_names == {'pkd_p0': 'loss_emb_pkd_p0', 'pkd_p1': 'loss_emb_pkd_p1'}
    with pytest.raises(RuntimeError, match=r'call attach\(student, teacher\) before recording'):
        with loss.student_recording():
            pass
    loss.attach(student, teacher)
    with pytest.raises(RuntimeError, match='already attached'):
        loss.attach(student, teacher)
    s_rec, t_rec = (m.get_recorder('fpn') for m in loss.recorder_managers())

    images = torch.randn(2, 3, 8, 8)
    teacher(images), student(images)  # outside the contexts: nothing recorded
    assert not s_rec.data_buffer and not t_rec.data_buffer
    with pytest.raises(RuntimeError, match="nothing recorded by student recorder 'fpn' "
                       r"\(neck\), teacher recorder 'fpn' \(neck\)"):
        loss()

    teacher.requires_grad_(True)  # even with a teacher in the graph, its records are detached
    with loss.teacher_recording():
        t_feats = teacher(images)
    with loss.student_recording():
        s_feats = student(images)
    assert len(s_rec.data_buffer) == len(t_rec.data_buffer) == 1
    assert t_feats[0].requires_grad and not any(t.requires_grad for t in t_rec.get_record_data())
    assert s_rec.get_record_data()[1] is s_feats[1]
    out = loss()
    assert not s_rec.data_buffer and not t_rec.data_buffer  # consumed
    for i in (0, 1):
        torch.testing.assert_close(out[f'loss_emb_pkd_p{i}'],
                                   PKDLoss()(s_feats[i], t_feats[i].detach()))
    out['loss_emb_pkd_p0'].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.backbone.weight.grad.abs().sum() > 0


def test_connectors_and_student_get_gradients_the_teacher_none():
    """MGD as mmrazor configures it: a generation connector on the student map."""
    student, teacher = pair(4, 6)
    loss = ConfigurableEmbeddingLoss(**fpn_cfg(
        dict(type='MGDLoss', alpha_mgd=1.0), name='loss_mgd_fpn{}', s_connector='s{}',
        connectors={f's{i}': dict(type='MGDConnector', student_channels=4, teacher_channels=6)
                    for i in (0, 1)}))
    loss.attach(student, teacher)
    assert sorted(loss.connectors) == ['s0', 's1']
    record(loss, student, teacher, torch.randn(2, 3, 8, 8))
    out = loss()
    assert sorted(out) == ['loss_emb_mgd_fpn0', 'loss_emb_mgd_fpn1']
    sum(out.values()).backward()
    for i in (0, 1):
        assert loss.connectors[f's{i}'].align.weight.grad.abs().sum() > 0
        assert loss.connectors[f's{i}'].generation[0].weight.grad.abs().sum() > 0
        assert student.neck.convs[i].weight.grad.abs().sum() > 0
    assert student.backbone.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_float32_losses_on_bfloat16_records():
    student, teacher = pair()
    student.to(torch.bfloat16), teacher.to(torch.bfloat16)
    images = torch.randn(2, 3, 8, 8, dtype=torch.bfloat16)
    losses = {}
    for float32 in (True, False):
        loss = ConfigurableEmbeddingLoss(float32=float32, **fpn_cfg(dict(type='PKDLoss')))
        loss.attach(student, teacher)
        s_feats, t_feats = record(loss, student, teacher, images)
        losses[float32] = loss()
    assert losses[True]['loss_emb_x_p0'].dtype == torch.float32
    assert losses[False]['loss_emb_x_p0'].dtype == torch.bfloat16
    torch.testing.assert_close(losses[True]['loss_emb_x_p0'],
                               PKDLoss()(s_feats[0].float(), t_feats[0].float()))


def _bad(**changes):
    cfg = fpn_cfg(dict(type='PKDLoss'))
    for key, value in changes.items():
        cfg[key] = value
    return cfg


@pytest.mark.parametrize('cfg, match', [
    (_bad(distill_losses={}), 'distill_losses must be a non-empty dict'),
    (_bad(distill_losses={'loss_x_p0': dict(type='PKDLoss')}),
     r"loss_forward_mappings keys \['loss_x_p0', 'loss_x_p1'\] must be the distill_losses"),
    (_bad(student_recorders=dict(other=dict(type='ModuleOutputs', source='neck'))),
     "'fpn' is not one of the student_recorders"),
    (_bad(loss_forward_mappings=dict(
        loss_x_p0=dict(preds_S=dict(from_student=True, recorder='fpn', connector='c'),
                       preds_T=dict(from_student=False, recorder='fpn')),
        loss_x_p1=dict(preds_S=dict(from_student=True, recorder='fpn')))),
     "connector 'c' is not one of the connectors"),
    (_bad(loss_forward_mappings=dict(
        loss_x_p0=dict(preds_S=dict(from_student=True, recorder='fpn'),
                       preds_T=dict(from_student=False, recorder='fpn', index=1)),
        loss_x_p1=dict(preds_S=dict(from_student=True, recorder='fpn')))),
     r"unknown keys \['index'\]"),
    (_bad(loss_forward_mappings=dict(
        loss_x_p0=dict(preds_S=dict(from_student=True, recorder='fpn')),
        loss_x_p1=dict(preds_S=dict(from_student=1, recorder='fpn')))),
     'from_student must be True or False, got 1'),
    (_bad(loss_forward_mappings=dict(
        loss_x_p0=dict(student=dict(from_student=True, recorder='fpn')),
        loss_x_p1=dict(preds_S=dict(from_student=True, recorder='fpn')))),
     'student is not in the signature of'),
    (_bad(distill_losses=dict(loss_x_p0=dict(type='PKDLoss'), x_p0=dict(type='PKDLoss')),
          loss_forward_mappings=dict(
              loss_x_p0=dict(preds_S=dict(from_student=True, recorder='fpn')),
              x_p0=dict(preds_S=dict(from_student=True, recorder='fpn')))),
     'repeated logged names'),
])
def test_config_errors_name_the_culprit(cfg, match):
    with pytest.raises(ValueError, match=match):
        ConfigurableEmbeddingLoss(**cfg)


def test_attach_and_forward_errors():
    student, teacher = pair()
    cfg = _bad(teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck.fpn')))
    with pytest.raises(ValueError, match=r"attach: teacher_recorders\['fpn'\] \(source "
                       r"'neck.fpn'\): \"neck.fpn\" is not in the model"):
        ConfigurableEmbeddingLoss(**cfg).attach(student, teacher)
    loss = ConfigurableEmbeddingLoss(**fpn_cfg(dict(type='PKDLoss'), levels=(0, 2)))
    loss.attach(student, teacher)
    record(loss, student, teacher, torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="distill loss 'loss_x_p2': data_idx is illegal"):
        loss()


# ---------------------------------------------------------------- in ProCKD
def build(config, teacher_ckpt):
    cfg = Config.fromfile(config).model
    cfg.teacher_ckpt = teacher_ckpt
    init_default_scope('mmdet')
    torch.manual_seed(0)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def batch(synthetic_root):
    return two_images(synthetic_root)


@pytest.mark.parametrize('config, kind, levels', [(PKD_TINY, 'pkd', 4), (MGD_TINY, 'mgd', 5)])
def test_procd_with_mmrazor_loss_routes_gradients(config, kind, levels, teacher_ckpt, batch):
    """Logged loss_emb_<kind>_fpn<i>, finite; gradient to the student's backbone and neck and
    to the connectors, none to the teacher (its records carry no graph)."""
    model = build(config, teacher_ckpt)
    model.train()
    emb = model.emb_loss
    assert isinstance(emb, ConfigurableEmbeddingLoss)
    losses = losses_of(model, batch)
    emb_losses = {k: v for k, v in losses.items() if k.startswith('loss_emb_')}
    assert sorted(emb_losses) == [f'loss_emb_{kind}_fpn{i}' for i in range(levels)]
    assert all(torch.isfinite(v) and v.dim() == 0 for v in emb_losses.values())
    assert 'loss_procls_teacher' in losses and 'loss_con' in losses
    # the records were consumed; nothing is kept between iterations
    assert all(not r.data_buffer for m in emb.recorder_managers() for r in m.recorders.values())

    sum(emb_losses.values()).backward()
    for part in (model.student.backbone, model.student.neck):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())
    connectors = list(emb.connectors.parameters())
    assert (len(connectors) > 0) == (kind == 'mgd')
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in connectors)
    # L_emb alone reaches neither the RoI heads nor the prototype modules
    assert all(p.grad is None for p in model.student.roi_head.parameters())
    assert all(p.grad is None for p in model.prototype_branch.prototype_learning.parameters())

    if kind == 'pkd':  # λ_emb = 0: no L_emb term, and nothing is recorded
        model.lambda_emb = 0.0
        losses = losses_of(model, batch)
        assert not any(k.startswith('loss_emb_') for k in losses)
        assert all(not r.data_buffer for m in emb.recorder_managers()
                   for r in m.recorders.values())


# ---------------------------------------------------------------- tools/train.py
def train(config, work_dir, root, teacher_ckpt, iters=2):
    """tools/train.py (a fork of the preloaded interpreter), without validation."""
    no_val = [o for o in data_options(root) if not o.startswith('val_')]
    result = tool_runner().run(
        'tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options',
        f'model.teacher_ckpt={teacher_ckpt}', f'train_cfg.max_iters={iters}',
        'default_hooks.logger.interval=1', *no_val, 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None')
    assert result.returncode == 0, result.stderr[-5000:]


@pytest.mark.parametrize('config, kind', [(PKD_TINY, 'pkd'), (MGD_TINY, 'mgd')])
def test_tiny_procd_trains_with_mmrazor_loss(config, kind, synthetic_root, teacher_ckpt,
                                              tmp_path):
    train(config, tmp_path, synthetic_root, teacher_ckpt)
    records = [r for r in logged_scalars(tmp_path) if 'loss' in r]
    assert [r['iter'] for r in records] == [1, 2]
    for record_ in records:
        emb_keys = sorted(k for k in record_ if k.startswith('loss_emb_'))
        assert emb_keys == [f'loss_emb_{kind}_fpn{i}'
                            for i in range(4 if kind == 'pkd' else 5)], emb_keys
        for key in emb_keys + ['loss', 'loss_con', 'loss_procls_teacher', 's2.loss_cls']:
            assert math.isfinite(record_[key]), key
    state = torch.load(tmp_path / 'iter_2.pth', map_location='cpu', weights_only=False)
    emb_state = [k for k in state['state_dict'] if k.startswith('emb_loss.')]
    assert bool(emb_state) == (kind == 'mgd')  # MGD's generation connectors are saved

"""Embedding-distillation terms L_emb: CWD, FBOD and Swin FBKD (paper Eq. 5)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.backbones import SwinTransformer
from mmrazor.registry import MODELS

import procd_mm  # noqa: F401
from procd_mm.models import CWDEmbeddingLoss, FBODEmbeddingLoss, SwinFBKDEmbeddingLoss
from procd_mm.utils import InputError


class FakeNeck(nn.Module):

    def __init__(self, out_channels, num_outs):
        super().__init__()
        self.out_channels = out_channels
        self.num_outs = num_outs


class FakeDetector(nn.Module):
    """Carries what ``attach`` inspects: ``.neck`` and/or ``.backbone``."""

    def __init__(self, neck=None, backbone=None):
        super().__init__()
        self.neck = neck
        self.backbone = backbone


def pyramid(channels, sizes, batch=2, requires_grad=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, channels, h, w, generator=gen).requires_grad_(requires_grad)
        for h, w in sizes)


def hand_cwd(s, t, tau, weight):
    N, C, H, W = s.shape
    p_t = torch.softmax(t.reshape(N * C, H * W) / tau, dim=1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(s.reshape(N * C, H * W) / tau, dim=1))).sum()
    return weight * kl * tau**2 / (N * C)


# ---------------------------------------------------------------- CWD
def test_cwd_equals_hand_computed_kl_per_level():
    loss = CWDEmbeddingLoss(tau=2.0, loss_weights=(10.0, 5.0), levels=(0, 2))
    s = pyramid(3, [(4, 5), (2, 3), (2, 2)], requires_grad=True, seed=0)
    t = pyramid(3, [(4, 5), (2, 3), (2, 2)], requires_grad=True, seed=1)
    out = loss(s, t)
    assert set(out) == {'loss_emb_cwd_p0', 'loss_emb_cwd_p2'}
    torch.testing.assert_close(out['loss_emb_cwd_p0'], hand_cwd(s[0], t[0], 2.0, 10.0))
    torch.testing.assert_close(out['loss_emb_cwd_p2'], hand_cwd(s[2], t[2], 2.0, 5.0))
    sum(out.values()).backward()
    assert s[0].grad.abs().sum() > 0 and s[2].grad.abs().sum() > 0
    assert s[1].grad is None
    assert all(x.grad is None for x in t)  # teacher maps are only a target
    assert all(not v.requires_grad or v.grad_fn is not None for v in out.values())


def test_cwd_defaults_and_zero_for_identical_features():
    loss = MODELS.build(dict(type='CWDEmbeddingLoss', _scope_='mmrazor'))
    assert loss.tau == 1.0 and loss.levels == (0, 1, 2, 3, 4)
    assert loss.loss_weights == (10.0, ) * 5  # mmrazor cwd_fpn_frcnn config
    feats = pyramid(4, [(8, 8), (4, 4), (2, 2), (2, 1), (1, 1)])
    out = loss(feats, tuple(f.clone() for f in feats))
    assert [k for k in out] == [f'loss_emb_cwd_p{i}' for i in range(5)]
    for value in out.values():
        assert value.dim() == 0
        torch.testing.assert_close(value, torch.zeros(()), atol=1e-6, rtol=0)


def test_cwd_half_input_is_computed_in_float32():
    loss = CWDEmbeddingLoss(levels=(0, ), loss_weights=1.0)
    s = pyramid(2, [(3, 3)], seed=0)
    t = pyramid(2, [(3, 3)], seed=1)
    out = loss(tuple(x.to(torch.bfloat16) for x in s), tuple(x.to(torch.bfloat16) for x in t))
    assert out['loss_emb_cwd_p0'].dtype == torch.float32
    expected = hand_cwd(s[0].to(torch.bfloat16).float(), t[0].to(torch.bfloat16).float(), 1., 1.)
    torch.testing.assert_close(out['loss_emb_cwd_p0'], expected)


def test_cwd_channel_mismatch_and_connector():
    s = pyramid(3, [(4, 4)], requires_grad=True)
    t = pyramid(5, [(4, 4)], seed=1)
    with pytest.raises(ValueError, match='level 0 student width 3 != teacher width 5'):
        CWDEmbeddingLoss(levels=(0, ))(s, t)
    with pytest.raises(ValueError, match='student FPN width 3 != teacher FPN width 5'):
        CWDEmbeddingLoss(levels=(0, )).attach(FakeDetector(FakeNeck(3, 5)),
                                              FakeDetector(FakeNeck(5, 5)))
    with pytest.raises(ValueError, match='level 4 requested but the student neck has 4 outputs'):
        CWDEmbeddingLoss().attach(FakeDetector(FakeNeck(3, 4)), FakeDetector(FakeNeck(3, 5)))
    with pytest.raises(ValueError, match='needs student_channels and teacher_channels'):
        CWDEmbeddingLoss(use_connector=True, student_channels=3)

    loss = CWDEmbeddingLoss(levels=(0, ), use_connector=True, student_channels=3,
                            teacher_channels=5)
    loss.attach(FakeDetector(FakeNeck(3, 5)), FakeDetector(FakeNeck(5, 5)))
    out = loss(s, t)
    mapped = loss.connectors['0'](s[0])
    torch.testing.assert_close(out['loss_emb_cwd_p0'], hand_cwd(mapped, t[0], 1.0, 10.0))
    out['loss_emb_cwd_p0'].backward()
    assert loss.connectors['0'].weight.grad.abs().sum() > 0
    assert s[0].grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs, match', [
    (dict(tau=0), 'tau must be a number > 0, got 0'),
    (dict(levels=(0, 1), loss_weights=(1.0, )), r'one entry per level \(levels=\(0, 1\)\)'),
    (dict(levels=(0, 0)), 'must not repeat an index'),
    (dict(loss_weights=-1.0), 'loss_weights must be a number >= 0, got -1.0'),
])
def test_cwd_rejects_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):  # one line from the tools
        CWDEmbeddingLoss(**kwargs)


def test_cwd_rejects_bad_pyramids():
    loss = CWDEmbeddingLoss(levels=(0, 1))
    with pytest.raises(ValueError, match='level 1 requested but teacher_feats has 1 levels'):
        loss(pyramid(2, [(2, 2), (1, 1)]), pyramid(2, [(2, 2)]))
    with pytest.raises(ValueError, match=r'student \(2, 2, 2, 2\) vs teacher \(2, 2, 3, 3\)'):
        loss(pyramid(2, [(2, 2), (1, 1)]), pyramid(2, [(3, 3), (1, 1)]))


# ---------------------------------------------------------------- FBOD
def small_fbod(**kwargs):
    cfg = dict(in_channels=16, levels=(0, 1), reductions=(4, 2), maxpool_strides=(4, 2))
    cfg.update(kwargs)
    return FBODEmbeddingLoss(**cfg)


def test_fbod_builds_mmrazor_connectors_per_level():
    loss = MODELS.build(dict(type='FBODEmbeddingLoss', _scope_='mmrazor'))
    assert loss.levels == (0, 1, 2, 3)
    assert loss.maxpool_strides == (8, 4, 2, 2) and loss.reductions == (4, 4, 2, 2)
    assert sorted(loss.student_connectors) == ['0', '1', '2', '3']
    assert type(loss.teacher_connectors['0']).__name__ == 'FBKDTeacherConnector'
    nl = loss.teacher_connectors['0'].teacher_non_local
    assert nl.inter_channels == 256 // 4 and nl.mode == 'dot_product'
    assert all(p.requires_grad for p in loss.teacher_connectors.parameters())


def test_fbod_values_and_gradients():
    torch.manual_seed(0)
    loss = small_fbod()
    s = pyramid(16, [(8, 8), (4, 4)], requires_grad=True, seed=0)
    t = pyramid(16, [(8, 8), (4, 4)], requires_grad=True, seed=1)
    out = loss(s, t)
    assert set(out) == {'loss_emb_fbod_p0', 'loss_emb_fbod_p1'}
    for value in out.values():
        assert value.dim() == 0 and value.dtype == torch.float32 and value > 0

    # Same numbers as calling mmrazor's pieces directly.
    loss.eval()  # freeze BN statistics for the comparison
    out = loss(s, t)
    ref = loss.losses['1'](loss.student_connectors['1'](s[1]),
                           loss.teacher_connectors['1'](t[1].detach()))
    torch.testing.assert_close(out['loss_emb_fbod_p1'], ref)
    loss.train()

    sum(loss(s, t).values()).backward()
    assert all(x.grad.abs().sum() > 0 for x in s)
    assert all(x.grad is None for x in t)
    for key in ('0', '1'):
        s_grads = [p.grad for p in loss.student_connectors[key].parameters()]
        t_grads = [p.grad for p in loss.teacher_connectors[key].parameters()]
        assert sum(g.abs().sum() for g in s_grads if g is not None) > 0
        # The teacher connector is trained too (its non-local block via the relation loss).
        assert sum(g.abs().sum() for g in t_grads if g is not None) > 0


def test_fbod_bad_input():
    loss = small_fbod()
    with pytest.raises(ValueError, match='student width 8 and teacher width 16'):
        loss(pyramid(8, [(8, 8), (4, 4)]), pyramid(16, [(8, 8), (4, 4)]))
    with pytest.raises(ValueError, match=r'level 0 map \(2, 2\) is smaller than its non-local '
                       'maxpool stride 4'):
        loss(pyramid(16, [(2, 2), (4, 4)]), pyramid(16, [(2, 2), (4, 4)]))
    with pytest.raises(ValueError, match='teacher neck has out_channels=32 but in_channels=16'):
        loss.attach(FakeDetector(FakeNeck(16, 5)), FakeDetector(FakeNeck(32, 5)))
    with pytest.raises(ValueError, match=r'maxpool_strides must be a number or have one entry'):
        small_fbod(maxpool_strides=(4, 2, 2))
    with pytest.raises(ValueError, match="mode must be one of .* got 'softmax'"):
        small_fbod(mode='softmax')


# ---------------------------------------------------------------- Swin FBKD
def tiny_swin(embed_dims, depths, num_heads, window_size=7):
    return SwinTransformer(embed_dims=embed_dims, depths=depths, num_heads=num_heads,
                           window_size=window_size, drop_path_rate=0.0, pretrain_img_size=64)


def student_teacher(teacher_window=7):
    torch.manual_seed(0)
    student = FakeDetector(backbone=tiny_swin(32, (1, 1, 3, 1), (1, 2, 4, 8)))
    teacher = FakeDetector(backbone=tiny_swin(48, (1, 1, 6, 1), (2, 3, 6, 12), teacher_window))
    teacher.eval().requires_grad_(False)
    return student, teacher


def run_both(loss, student, teacher, images):
    """The teacher under no_grad, then the student, each inside its recording context."""
    with torch.no_grad(), loss.teacher_recording():
        teacher.backbone(images)
    with loss.student_recording():
        return student.backbone(images)


def test_swin_fbkd_records_shapes_and_computes_eq5():
    student, teacher = student_teacher()
    loss = SwinFBKDEmbeddingLoss(stage=2, student_blocks=(0, 1, 2), teacher_blocks=(2, 3, 4),
                                 attn_weight=2.0, hidden_weight=0.5)
    loss.attach(student, teacher)
    assert (loss.W_h.in_features, loss.W_h.out_features) == (128, 192)
    images = torch.randn(2, 3, 64, 64)
    student_outs = run_both(loss, student, teacher, images)

    records = loss.records()
    # Stage 2 of a 64x64 image is 4x4 tokens, padded to one 7x7 window per image.
    for role, width in (('student', 128), ('teacher', 192)):
        for attn, hidden in zip(records[role]['attn'], records[role]['hidden']):
            assert attn.shape == (2, 49, 49)  # [B*nW, N, N], averaged over heads
            torch.testing.assert_close(attn.sum(-1), torch.ones(2, 49))  # probabilities
            assert hidden.shape == (2, 16, width)
    assert all(not x.requires_grad for kind in ('attn', 'hidden')
               for x in records['teacher'][kind])
    assert all(x.requires_grad for x in records['student']['hidden'])
    expected_attn = sum(
        F.mse_loss(s, t) for s, t in zip(records['student']['attn'], records['teacher']['attn']))
    expected_hidden = sum(
        F.mse_loss(loss.W_h(s), t)
        for s, t in zip(records['student']['hidden'], records['teacher']['hidden']))
    out = loss(student_outs, ())
    assert set(out) == {'loss_emb_fbkd_attn', 'loss_emb_fbkd_hidden'}
    torch.testing.assert_close(out['loss_emb_fbkd_attn'], 2.0 * expected_attn)
    torch.testing.assert_close(out['loss_emb_fbkd_hidden'], 0.5 * expected_hidden)
    assert out['loss_emb_fbkd_attn'] > 0 and out['loss_emb_fbkd_hidden'] > 0

    (out['loss_emb_fbkd_attn'] + out['loss_emb_fbkd_hidden']).backward()
    assert loss.W_h.weight.grad.abs().sum() > 0
    stage = student.backbone.stages[2]
    assert stage.blocks[0].attn.w_msa.qkv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())

    with pytest.raises(RuntimeError, match='nothing recorded for student attn of block 0'):
        loss((), ())  # records are consumed by the previous call


def _attn_hooks(block):
    return len(block.attn.w_msa.attn_drop._forward_hooks)


def test_swin_fbkd_uses_mmrazor_recorders_and_no_private_torch_api():
    import inspect

    from mmrazor.models.task_modules import ModuleInputsRecorder, ModuleOutputsRecorder

    import procd_mm.models.losses.swin_fbkd_embedding_loss as module
    assert '_current_graph_task_id' not in inspect.getsource(module)
    loss = SwinFBKDEmbeddingLoss(stage=2, student_blocks=(0, 1), teacher_blocks=(2, 3))
    for manager in loss.recorder_managers():
        recorders = manager.recorders
        assert sorted(recorders) == ['attn0', 'attn1', 'hidden0', 'hidden1']
        assert type(recorders['attn0']) is ModuleInputsRecorder
        assert type(recorders['hidden1']) is ModuleOutputsRecorder
    student_sources = [r.source for r in loss.recorder_managers()[0].recorders.values()]
    assert 'backbone.stages.2.blocks.1.attn.w_msa.attn_drop' in student_sources
    assert 'backbone.stages.2.blocks.0' in student_sources
    assert 'backbone.stages.2.blocks.3' in [
        r.source for r in loss.recorder_managers()[1].recorders.values()]


def test_swin_fbkd_hidden_only_has_no_attention_recorders_records_or_key():
    """attn_weight=0 (the detection rows): F^S W_h vs F^T only, gradient to blocks and W_h."""
    student, teacher = student_teacher()
    loss = SwinFBKDEmbeddingLoss(stage=2, student_blocks=(0, 1, 2), teacher_blocks=(2, 3, 4),
                                 attn_weight=0.0)
    assert loss.kinds == ('hidden', )
    loss.attach(student, teacher)
    s_blocks, t_blocks = student.backbone.stages[2].blocks, teacher.backbone.stages[2].blocks
    assert all(sorted(m.recorders) == ['hidden0', 'hidden1', 'hidden2']
               for m in loss.recorder_managers())
    assert all(_attn_hooks(b) == 0 for b in list(s_blocks) + list(t_blocks))
    assert [len(b._forward_hooks) for b in s_blocks] == [1, 1, 1]
    # The same pairs with the attention term record attn_drop's input too; its recorders
    # stay idle while only `loss` records.
    with_attn = SwinFBKDEmbeddingLoss(stage=2, student_blocks=(0, 1, 2), teacher_blocks=(2, 3, 4))
    with_attn.attach(student, teacher)
    assert [_attn_hooks(b) for b in s_blocks] == [1, 1, 1]

    student_outs = run_both(loss, student, teacher, torch.randn(2, 3, 64, 64))
    assert all(v is None for role in with_attn.records().values() for values in role.values()
               for v in values)
    records = loss.records()
    assert all(set(records[role]) == {'hidden'} for role in ('student', 'teacher'))
    expected = sum(
        F.mse_loss(loss.W_h(s), t)
        for s, t in zip(records['student']['hidden'], records['teacher']['hidden']))
    out = loss(student_outs, ())
    assert set(out) == {'loss_emb_fbkd_hidden'}
    torch.testing.assert_close(out['loss_emb_fbkd_hidden'], expected)
    assert out['loss_emb_fbkd_hidden'] > 0

    out['loss_emb_fbkd_hidden'].backward()
    assert loss.W_h.weight.grad.abs().sum() > 0 and loss.W_h.bias.grad.abs().sum() > 0
    for b in (0, 1, 2):  # every paired student block, through its output F^S
        assert s_blocks[b].ffn.layers[1].weight.grad.abs().sum() > 0, b
        assert s_blocks[b].attn.w_msa.qkv.weight.grad.abs().sum() > 0, b
    assert all(p.grad is None for p in teacher.parameters())
    with pytest.raises(RuntimeError, match='nothing recorded for student hidden of block 0'):
        loss((), ())


def test_swin_fbkd_head_average_is_what_is_compared():
    """One network as both student and teacher: equal head-averaged maps, zero attention term."""
    torch.manual_seed(0)
    net = FakeDetector(backbone=tiny_swin(32, (1, 1, 3, 1), (1, 2, 4, 8)))
    loss = SwinFBKDEmbeddingLoss(student_blocks=(0, 1), teacher_blocks=(0, 1))
    loss.attach(net, net)  # each role's recorders record only inside that role's context
    net.eval()  # no dropout / drop path: both passes compute the same maps
    images = torch.randn(1, 3, 64, 64)
    run_both(loss, net, net, images)
    records = loss.records()
    assert all(x.requires_grad for x in records['student']['attn'])
    assert not any(x.requires_grad for x in records['teacher']['attn'])
    out = loss((), ())
    torch.testing.assert_close(out['loss_emb_fbkd_attn'], torch.zeros(()))


def test_swin_fbkd_records_only_inside_its_contexts():
    """Not outside the contexts, not without attach, not during a checkpoint recompute."""
    student, teacher = student_teacher()
    student.backbone = SwinTransformer(embed_dims=32, depths=(1, 1, 3, 1), num_heads=(1, 2, 4, 8),
                                       window_size=7, drop_path_rate=0.0, pretrain_img_size=64,
                                       with_cp=True)
    loss = SwinFBKDEmbeddingLoss(student_blocks=(0, ), teacher_blocks=(2, ))
    with pytest.raises(RuntimeError, match=r'call attach\(student, teacher\) before forward'):
        loss((), ())
    with pytest.raises(RuntimeError, match=r'call attach\(student, teacher\) before recording'):
        with loss.student_recording():
            pass
    loss.attach(student, teacher)
    with pytest.raises(RuntimeError, match='already attached'):
        loss.attach(student, teacher)

    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        teacher.backbone(images)
    student.backbone(images)  # training forward, but outside the contexts
    with pytest.raises(RuntimeError, match='nothing recorded for student attn of block 0'):
        loss((), ())

    outs = run_both(loss, student, teacher, images)
    s_recorders = loss.recorder_managers()[0].recorders
    assert [len(s_recorders[k].data_buffer) for k in ('attn0', 'hidden0')] == [1, 1]
    # The backward pass recomputes the checkpointed blocks (attn_drop runs again): unrecorded.
    attn_drop = student.backbone.stages[2].blocks[0].attn.w_msa.attn_drop
    calls = []
    handle = attn_drop.register_forward_hook(lambda *args: calls.append(1))
    sum(o.sum() for o in outs).backward(retain_graph=True)
    handle.remove()
    assert calls == [1]  # the recompute happened
    assert [len(s_recorders[k].data_buffer) for k in ('attn0', 'hidden0')] == [1, 1]
    out = loss(outs, ())
    assert set(out) == {'loss_emb_fbkd_attn', 'loss_emb_fbkd_hidden'}
    assert all(torch.isfinite(v) for v in out.values())


def test_swin_fbkd_build_time_errors():
    student, teacher = student_teacher()
    with pytest.raises(ValueError, match='student block 5 of stage 2 does not exist: that '
                       'stage has 3 blocks'):
        SwinFBKDEmbeddingLoss(student_blocks=(0, 1, 5), teacher_blocks=(0, 1, 2)).attach(
            student, teacher)
    with pytest.raises(ValueError, match='student stage 4 does not exist: the student backbone '
                       'has 4 stages'):
        SwinFBKDEmbeddingLoss(stage=4, student_blocks=(0, ), teacher_blocks=(0, )).attach(
            student, teacher)
    with pytest.raises(ValueError, match=r'must pair up \(lengths 2 vs 1\)'):
        SwinFBKDEmbeddingLoss(student_blocks=(0, 1), teacher_blocks=(0, ))
    with pytest.raises(ValueError, match='window sizes differ: student block 0 has '
                       'window_size=7, teacher block 2 has window_size=8'):
        SwinFBKDEmbeddingLoss(student_blocks=(0, ), teacher_blocks=(2, )).attach(
            *student_teacher(teacher_window=8))
    with pytest.raises(ValueError, match=r'student block 0 \(shift_size=0\) and teacher block 3 '
                       r'\(shift_size=3\)'):
        SwinFBKDEmbeddingLoss(student_blocks=(0, ), teacher_blocks=(3, )).attach(student, teacher)
    with pytest.raises(TypeError, match='needs an mmdet SwinTransformer at .backbone'):
        SwinFBKDEmbeddingLoss().attach(FakeDetector(backbone=nn.Linear(2, 2)), teacher)
    with pytest.raises(ValueError, match='W_h maps 64 -> 192 but stage 2 widths are student 128'):
        SwinFBKDEmbeddingLoss(student_blocks=(0, ), teacher_blocks=(2, ), student_channels=64,
                              teacher_channels=192).attach(student, teacher)


def test_swin_fbkd_defaults_match_spec():
    loss = MODELS.build(dict(type='SwinFBKDEmbeddingLoss', _scope_='mmrazor', student_channels=384,
                             teacher_channels=512))
    assert loss.stage == 2
    assert loss.student_blocks == (0, 1, 2, 3, 4, 5)
    assert loss.teacher_blocks == (2, 5, 8, 11, 14, 17)
    assert [b % 2 for b in loss.teacher_blocks] == [b % 2 for b in loss.student_blocks]
    assert (loss.W_h.in_features, loss.W_h.out_features) == (384, 512)

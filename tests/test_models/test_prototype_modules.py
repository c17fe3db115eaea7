"""PrototypeLearning (paper Eq. 1-2) and FeatureAugmentation (paper Eq. 3-4)."""

import pytest
import torch
import torch.nn.functional as F

import procd_mm  # noqa: F401
from procd_mm.models import FeatureAugmentation, PrototypeLearning


def naive_vlad(x, assignment, prototypes):
    """Eq. 1 literally: V_i = sum_j a_ji (F_j - p_i), one position at a time."""
    B, D, H, W = x.shape
    n = prototypes.shape[0]
    feats = x.flatten(2)
    out = torch.zeros(B, n, D, dtype=x.dtype)
    for b in range(B):
        for i in range(n):
            for j in range(H * W):
                out[b, i] += assignment[b, i, j] * (feats[b, :, j] - prototypes[i])
    return out


def naive_netvlad(x, assignment, prototypes, normalize):
    """V as PrototypeLearning defines it, from the literal residual sum of Eq. 1.

    With ``normalize``: NetVLAD's L2 normalisation of the features per position,
    then intra-normalisation of every V_i and L2 normalisation of the flattened V.
    """
    if not normalize:
        return naive_vlad(x, assignment, prototypes)
    v = naive_vlad(F.normalize(x, dim=1), assignment, prototypes)
    v = v / v.norm(dim=2, keepdim=True)
    return v / v.flatten(1).norm(dim=1)[:, None, None]


def entropy(a):
    """Mean entropy (nats) of the soft assignment over the n prototypes."""
    return -(a * a.clamp_min(1e-30).log()).sum(dim=1).mean().item()


@pytest.mark.parametrize('normalize', [True, False])
def test_assign_is_a_distribution_over_prototypes(normalize):
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=8, num_prototypes=5, normalize=normalize)
    x = torch.randn(2, 8, 3, 4)
    a = module.assign(x)
    assert a.shape == (2, 5, 12)
    assert a.dtype == torch.float32
    assert torch.all(a >= 0)
    torch.testing.assert_close(a.sum(dim=1), torch.ones(2, 12))
    # It is the softmax over n of the 1x1-conv logits of the (normalised) features.
    conv_in = F.normalize(x, dim=1) if normalize else x
    expected = F.softmax(module.assign_conv(conv_in).flatten(2), dim=1)
    torch.testing.assert_close(a, expected)


@pytest.mark.parametrize('normalize', [True, False])
def test_aggregate_matmul_form_equals_residual_sum_float64(normalize):
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=6, num_prototypes=4, normalize=normalize).double()
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64) * 3
    a = module.assign(x)
    assert a.dtype == torch.float64
    vlad = module.aggregate(x)
    assert vlad.shape == (2, 4, 6)
    expected = naive_netvlad(x, a, module.prototypes.detach(), normalize)
    torch.testing.assert_close(vlad, expected, rtol=1e-12, atol=1e-12)
    if normalize:
        torch.testing.assert_close(vlad.norm(dim=2) * 2, torch.ones(2, 4, dtype=torch.float64))
        torch.testing.assert_close(vlad.flatten(1).norm(dim=1), torch.ones(2, dtype=torch.float64))


def test_normalised_assignment_and_v_do_not_depend_on_the_feature_scale():
    """F x 10 (or x 0.1): same A and V with normalisation; O_pro only through its F half."""
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=32, num_prototypes=8).double()
    x = torch.randn(2, 32, 5, 7, dtype=torch.float64)
    a, v = module.assign(x), module.aggregate(x)
    for scale in (10.0, 0.1):
        xs = x * scale
        torch.testing.assert_close(module.assign(xs), a, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(module.aggregate(xs), v, rtol=1e-10, atol=1e-12)
        # Eq. 2 concatenates the raw F, so O_pro is not scale-invariant; its
        # broadcast descriptor g = V_r W_p + b_p is.
        g = module.proj(v.flatten(1))[:, :, None, None].expand(2, 32, 5, 7)
        torch.testing.assert_close(module(xs), module.fuse(torch.cat([xs, g], dim=1)),
                                   rtol=1e-10, atol=1e-10)
    assert not torch.allclose(module(x * 10), module(x))

    # Without normalisation the assignment sharpens and V grows with the scale.
    torch.manual_seed(0)
    plain = PrototypeLearning(in_channels=32, num_prototypes=8, normalize=False).double()
    a1, a10 = plain.assign(x), plain.assign(x * 10)
    assert entropy(a10) < entropy(a1) - 0.5
    assert plain.aggregate(x * 10).norm() > 5 * plain.aggregate(x).norm()


def test_normalised_v_is_bounded_as_the_number_of_positions_grows():
    """35, 560 and 2048 positions (P5 of 1024 x 2048 is 32 x 64): ||V_r|| = 1 each time."""
    shapes = [(5, 7), (20, 28), (32, 64)]
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=64, num_prototypes=16)
    torch.manual_seed(0)
    plain = PrototypeLearning(in_channels=64, num_prototypes=16, normalize=False)
    plain_norms = []
    with torch.no_grad():
        for h, w in shapes:
            x = torch.randn(2, 64, h, w)
            v = module.aggregate(x)
            torch.testing.assert_close(v.flatten(1).norm(dim=1), torch.ones(2))
            torch.testing.assert_close(v.norm(dim=2), torch.full((2, 16), 16**-0.5))
            plain_norms.append(plain.aggregate(x).flatten(1).norm(dim=1).mean().item())
    # The old behaviour: ||V_r|| grows with H*W (about sqrt(HW) for random features).
    assert plain_norms[0] < plain_norms[1] < plain_norms[2], plain_norms
    assert plain_norms[2] > 5 * plain_norms[0], plain_norms


@pytest.mark.parametrize('normalize', [True, False])
def test_forward_shape_and_gradients(normalize):
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=8, num_prototypes=3, normalize=normalize)
    assert module.prototypes.shape == (3, 8)
    assert module.proj.in_features == 3 * 8 and module.proj.out_features == 8
    x = torch.randn(2, 8, 4, 5, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert module.prototypes.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize('normalize', [True, False])
def test_forward_broadcasts_the_projected_descriptor(normalize):
    """Eq. 2 by hand: f(concat[F, V_r W_p + b_p]) with the projection at every position.

    The concatenation takes the un-normalised F in both settings.
    """
    torch.manual_seed(1)
    module = PrototypeLearning(in_channels=4, num_prototypes=2, normalize=normalize).double()
    x = torch.randn(1, 4, 2, 3, dtype=torch.float64) * 5
    vlad = naive_netvlad(x, module.assign(x), module.prototypes.detach(), normalize)
    g = module.proj(vlad.flatten(1))[:, :, None, None].expand(1, 4, 2, 3)
    expected = module.fuse(torch.cat([x, g], dim=1))
    torch.testing.assert_close(module(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('normalize', [True, False])
def test_autocast_keeps_softmax_and_eq1_in_float32(normalize):
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=8, num_prototypes=3, normalize=normalize)
    x = torch.randn(2, 8, 3, 3) * 50
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        a = module.assign(x)
        vlad = module.aggregate(x)
        out = module(x)
    assert a.dtype == torch.float32 and vlad.dtype == torch.float32
    torch.testing.assert_close(a.sum(dim=1), torch.ones(2, 9))
    assert out.shape == x.shape and torch.isfinite(out.float()).all()
    if normalize:
        torch.testing.assert_close(vlad.flatten(1).norm(dim=1), torch.ones(2))


@pytest.mark.parametrize('kwargs, match', [
    (dict(in_channels=0), 'in_channels must be a positive int, got 0'),
    (dict(num_prototypes=-3), 'num_prototypes must be a positive int, got -3'),
    (dict(normalize='yes'), "normalize must be a bool, got 'yes'"),
])
def test_prototype_learning_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrototypeLearning(**kwargs)


def test_prototype_learning_rejects_bad_input():
    module = PrototypeLearning(in_channels=8, num_prototypes=3)
    with pytest.raises(ValueError, match=r'\[B, 8, H, W\], got \(2, 7, 3, 3\)'):
        module(torch.randn(2, 7, 3, 3))
    with pytest.raises(ValueError, match=r'got \(2, 8, 9\)'):
        module(torch.randn(2, 8, 9))
    with pytest.raises(ValueError,
                       match=r'assignment must have shape \(2, 3, 9\), got \(2, 3, 8\)'):
        module.aggregate(torch.randn(2, 8, 3, 3), torch.rand(2, 3, 8))


def _naive_aggregate(self, x, assignment=None):
    """Eq. 1 written literally: materialises the B x n x D x HW residual."""
    a = self.assign(x) if assignment is None else assignment
    feats = F.normalize(x, dim=1) if self.normalize else x
    residual = feats.flatten(2)[:, None] - self.prototypes[None, :, :, None]
    vlad = (a[:, :, None, :] * residual).sum(-1)
    if self.normalize:
        vlad = F.normalize(F.normalize(vlad, dim=2).flatten(1), dim=1).view_as(vlad)
    return vlad


def _forward_backward_saved_mib(module, x):
    """Forward + backward; returns the MiB of distinct storages autograd kept for backward.

    What autograd saves is what a forward pass must keep alive until backward, so a
    materialised residual shows up here whatever the allocator or the machine does.
    """
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)
    out.square().mean().backward()
    assert out.shape == x.shape and module.prototypes.grad.abs().sum() > 0
    return sum(storages.values()) / 2**20


def test_forward_backward_memory_at_p5_of_a_cityscapes_image(monkeypatch):
    """The 2 x 72 x 256 x 2048 residual (302 MB, plus its grad) must never exist.

    Forward + backward at B=2, D=256, H=32, W=64, n=72 (P5 of a 1024 x 2048 image);
    then the literal residual form of Eq. 1 is swapped in to show the probe catches it.
    """
    torch.manual_seed(0)
    module = PrototypeLearning(in_channels=256, num_prototypes=72)
    x = torch.randn(2, 256, 32, 64, requires_grad=True)
    residual_mib = 2 * 72 * 256 * 2048 * 4 / 2**20  # 288 MiB = 302 MB
    matmul_mib = _forward_backward_saved_mib(module, x)
    monkeypatch.setattr(PrototypeLearning, 'aggregate', _naive_aggregate)
    module.zero_grad()
    naive_mib = _forward_backward_saved_mib(module, x)
    assert matmul_mib < residual_mib / 4, (matmul_mib, naive_mib)
    assert naive_mib > residual_mib * 0.9, (matmul_mib, naive_mib)


def test_feature_augmentation_shares_prototypes_and_keeps_shape():
    torch.manual_seed(0)
    proto = PrototypeLearning(in_channels=8, num_prototypes=4)
    aug = FeatureAugmentation(in_channels=8)
    x = torch.randn(2, 8, 3, 5, requires_grad=True)
    out = aug(proto(x), proto.prototypes)
    assert out.shape == x.shape
    assert torch.all(out >= 0)  # the final ReLU of Eq. 4
    out.sum().backward()
    assert proto.prototypes.grad is not None and proto.prototypes.grad.abs().sum() > 0
    for name, param in aug.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert proto.assign_conv.weight.grad.abs().sum() > 0
    assert not any(p is proto.prototypes for p in aug.parameters())  # passed in, not owned


def test_feature_augmentation_matches_eq3_eq4_by_hand():
    torch.manual_seed(0)
    aug = FeatureAugmentation(in_channels=6).double()
    x = torch.randn(2, 6, 2, 3, dtype=torch.float64)
    prototypes = torch.randn(5, 6, dtype=torch.float64)
    tokens = x.flatten(2).transpose(1, 2)  # F_r: [B, HW, D]
    f_e = tokens @ aug.enc.weight.t() + aug.enc.bias
    p_e = prototypes @ aug.enc_p.weight.t() + aug.enc_p.bias
    attn = torch.softmax(f_e @ p_e.t(), dim=-1)  # Eq. 3
    fused = torch.cat([f_e, attn @ prototypes], dim=-1) @ aug.phi.weight.t() + aug.phi.bias
    expected = torch.relu(fused + tokens).transpose(1, 2).reshape(x.shape)  # Eq. 4
    torch.testing.assert_close(aug(x, prototypes), expected, rtol=1e-10, atol=1e-10)
    a = aug.attention(tokens, prototypes)
    assert a.shape == (2, 6, 5)
    torch.testing.assert_close(a, attn)
    # Token layout [B, L, D] gives the same numbers.
    torch.testing.assert_close(aug(tokens, prototypes), expected.flatten(2).transpose(1, 2))


def test_feature_augmentation_autocast_and_bad_input():
    torch.manual_seed(0)
    aug = FeatureAugmentation(in_channels=8)
    prototypes = torch.randn(4, 8)
    x = torch.randn(2, 8, 3, 3) * 100
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        a = aug.attention(x.flatten(2).transpose(1, 2), prototypes)
        out = aug(x, prototypes)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 9))
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r'prototypes \[n, 8\] with n > 0, got \(4, 7\)'):
        aug(x, torch.randn(4, 7))
    with pytest.raises(ValueError, match=r'\[B, 8, H, W\], got \(2, 6, 3, 3\)'):
        aug(torch.randn(2, 6, 3, 3), prototypes)
    with pytest.raises(ValueError, match='in_channels must be a positive int, got 2.5'):
        FeatureAugmentation(in_channels=2.5)

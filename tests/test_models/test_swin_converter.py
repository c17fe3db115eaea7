"""tools/model_converters/swin_official_to_procd.py: the public Swin-B Cascade Mask R-CNN
checkpoint layout (Swin-Transformer-Object-Detection, mmdet 2.x) -> the teacher config."""
import os.path as osp

import pytest
import torch
from mmdet.models.backbones.swin import swin_converter
from mmdet.models.layers import PatchMerging
from mmengine.config import Config
from mmengine.registry import init_default_scope

import procd_mm  # noqa: F401  (repairs the stack, registers components)
from procd_mm.models.algorithms.teacher_checkpoint import load_teacher_checkpoint
from procd_mm.models.converters import convert_swin_official
from procd_mm.utils import InputError
from tests.conftest import REPO, run_tool

TEACHER_CFG = osp.join(REPO, 'configs/_base_/models/cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py')
ATTN = 'backbone.layers.2.blocks.5.attn.qkv.weight'
MERGE = 'backbone.layers.1.downsample.reduction.weight'


def official_state_dict(embed=128, depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), classes=80):
    """Keys and shapes of cascade_mask_rcnn_swin_base_patch4_window7.pth as documented by the
    official Swin detection code (backbone) and mmdet 2.x (FPN, RPN, cascade heads)."""
    shapes = {'backbone.patch_embed.proj.weight': (embed, 3, 4, 4),
              'backbone.patch_embed.proj.bias': (embed, ),
              'backbone.patch_embed.norm.weight': (embed, ),
              'backbone.patch_embed.norm.bias': (embed, )}
    for i, (depth, head) in enumerate(zip(depths, heads)):
        dim = embed * 2**i
        for j in range(depth):
            b = f'backbone.layers.{i}.blocks.{j}.'
            shapes.update({
                b + 'norm1.weight': (dim, ), b + 'norm1.bias': (dim, ),
                b + 'attn.relative_position_bias_table': (169, head),
                b + 'attn.qkv.weight': (3 * dim, dim), b + 'attn.qkv.bias': (3 * dim, ),
                b + 'attn.proj.weight': (dim, dim), b + 'attn.proj.bias': (dim, ),
                b + 'norm2.weight': (dim, ), b + 'norm2.bias': (dim, ),
                b + 'mlp.fc1.weight': (4 * dim, dim), b + 'mlp.fc1.bias': (4 * dim, ),
                b + 'mlp.fc2.weight': (dim, 4 * dim), b + 'mlp.fc2.bias': (dim, )})
        if i < 3:
            d = f'backbone.layers.{i}.downsample.'
            shapes.update({d + 'reduction.weight': (2 * dim, 4 * dim),
                           d + 'norm.weight': (4 * dim, ), d + 'norm.bias': (4 * dim, )})
        shapes.update({f'backbone.norm{i}.weight': (dim, ), f'backbone.norm{i}.bias': (dim, )})
        shapes.update({f'neck.lateral_convs.{i}.conv.weight': (256, dim, 1, 1),
                       f'neck.lateral_convs.{i}.conv.bias': (256, ),
                       f'neck.fpn_convs.{i}.conv.weight': (256, 256, 3, 3),
                       f'neck.fpn_convs.{i}.conv.bias': (256, )})
    shapes.update({'rpn_head.rpn_conv.weight': (256, 256, 3, 3), 'rpn_head.rpn_conv.bias': (256, ),
                   'rpn_head.rpn_cls.weight': (3, 256, 1, 1), 'rpn_head.rpn_cls.bias': (3, ),
                   'rpn_head.rpn_reg.weight': (12, 256, 1, 1), 'rpn_head.rpn_reg.bias': (12, )})
    for s in range(3):
        h = f'roi_head.bbox_head.{s}.'
        for k in range(4):
            shapes[h + f'shared_convs.{k}.conv.weight'] = (256, 256, 3, 3)
            for p in ('weight', 'bias', 'running_mean', 'running_var'):
                shapes[h + f'shared_convs.{k}.bn.{p}'] = (256, )
            shapes[h + f'shared_convs.{k}.bn.num_batches_tracked'] = ()
        shapes.update({h + 'shared_fcs.0.weight': (1024, 256 * 49),
                       h + 'shared_fcs.0.bias': (1024, ),
                       h + 'fc_cls.weight': (classes + 1, 1024),
                       h + 'fc_cls.bias': (classes + 1, ),
                       h + 'fc_reg.weight': (4 * classes, 1024),
                       h + 'fc_reg.bias': (4 * classes, )})
        m = f'roi_head.mask_head.{s}.'
        for k in range(4):
            shapes[m + f'convs.{k}.conv.weight'] = (256, 256, 3, 3)
            shapes[m + f'convs.{k}.conv.bias'] = (256, )
        shapes.update({m + 'upsample.weight': (256, 256, 2, 2), m + 'upsample.bias': (256, ),
                       m + 'conv_logits.weight': (classes, 256, 1, 1),
                       m + 'conv_logits.bias': (classes, )})
    state = {k: torch.zeros(v) for k, v in shapes.items()}
    for i, depth in enumerate(depths):  # official buffers: kept (index) and recomputed (mask)
        for j in range(depth):
            state[f'backbone.layers.{i}.blocks.{j}.attn.relative_position_index'] = \
                torch.zeros(49, 49, dtype=torch.long)
    state['backbone.layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)
    torch.manual_seed(0)
    state[ATTN] = torch.randn(state[ATTN].shape)
    state[MERGE] = torch.randn(state[MERGE].shape)
    return state


@pytest.fixture(scope='module')
def teacher():
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    return MODELS.build(Config.fromfile(TEACHER_CFG).model)


def test_converted_public_layout_loads_strictly_into_teacher(teacher, tmp_path):
    official = official_state_dict()
    converted, report = convert_swin_official(official)
    assert report.unmatched == []
    assert report.dropped == ['backbone.layers.0.blocks.1.attn_mask']
    assert ('backbone.patch_embed.proj.weight',
            'backbone.patch_embed.projection.weight') in report.renamed
    assert 'roi_head.bbox_head.0.shared_convs.3.conv.weight' in report.kept
    path = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=converted), path)
    load_teacher_checkpoint(teacher, path, strict=True)
    own = teacher.state_dict()
    # attention weight: renamed, values unchanged
    assert torch.equal(own['backbone.stages.2.blocks.5.attn.w_msa.qkv.weight'], official[ATTN])
    # PatchMerging: as mmdet's own swin_converter reorders it ...
    reference = swin_converter({MERGE[len('backbone.'):]: official[MERGE]})
    assert torch.equal(own['backbone.stages.1.downsample.reduction.weight'],
                       reference['backbone.stages.1.downsample.reduction.weight'])
    assert not torch.equal(own['backbone.stages.1.downsample.reduction.weight'], official[MERGE])


def test_patch_merging_reorder_matches_official_forward():
    """mmdet's PatchMerging with converted weights == the official cat(x0, x1, x2, x3) merge."""
    torch.manual_seed(0)
    c, h, w = 8, 4, 6
    reduction, norm_w, norm_b = torch.randn(2 * c, 4 * c), torch.randn(4 * c), torch.randn(4 * c)
    state = {'backbone.layers.0.downsample.reduction.weight': reduction,
             'backbone.layers.0.downsample.norm.weight': norm_w,
             'backbone.layers.0.downsample.norm.bias': norm_b}
    converted, _ = convert_swin_official(state)
    merge = PatchMerging(c, 2 * c)
    merge.load_state_dict({k.split('downsample.')[1]: v for k, v in converted.items()})
    x = torch.randn(1, h * w, c)
    grid = x.view(1, h, w, c)
    cat = torch.cat([grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2],
                     grid[:, 1::2, 1::2]], -1).view(1, -1, 4 * c)
    expected = torch.nn.functional.layer_norm(cat, (4 * c, ), norm_w, norm_b) @ reduction.t()
    out, _ = merge(x, (h, w))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_other_backbone_size_is_refused_with_mismatched_keys(teacher, tmp_path):
    swin_t, _ = convert_swin_official(
        official_state_dict(embed=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24)))
    path = str(tmp_path / 'swin_t.pth')
    torch.save(dict(state_dict=swin_t), path)
    with pytest.raises(InputError) as err:
        load_teacher_checkpoint(teacher, path, strict=True)
    message = str(err.value)
    assert 'missing keys' in message and 'backbone.stages.2.blocks.' in message
    assert 'shape mismatches (checkpoint vs teacher)' in message
    assert 'backbone.norm0.weight (96,) vs (128,)' in message


def test_cli_converts_reports_and_checks(tmp_path):
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'converted.pth')
    torch.save(dict(state_dict=official_state_dict(), meta=dict(epoch=36)), src)
    out = run_tool('tools/model_converters/swin_official_to_procd.py', src, dst).stdout
    assert 'renamed   backbone.layers.2.blocks.5.mlp.fc1.weight -> ' \
        'backbone.stages.2.blocks.5.ffn.layers.0.0.weight' in out
    assert 'dropped   backbone.layers.0.blocks.1.attn_mask' in out
    assert '0 unmatched' in out and 'loads strictly' in out
    bad = run_tool('tools/model_converters/swin_official_to_procd.py', str(tmp_path / 'no.pth'),
                   dst, check=False)
    assert bad.returncode != 0 and 'no.pth' in bad.stderr

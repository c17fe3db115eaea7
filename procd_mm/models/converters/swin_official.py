"""Swin-Transformer-Object-Detection (mmdet 2.x) checkpoints -> mmdet 3.x Swin detector keys.

The public COCO checkpoints of the official Swin detection repository (e.g.
``cascade_mask_rcnn_swin_base_patch4_window7.pth``, the ProC-KD teacher) name the
backbone as the official Swin code does (``backbone.layers.{i}.blocks.{j}.attn.qkv``,
``...mlp.fc1``, ``backbone.patch_embed.proj``) and store each PatchMerging layer's
input channels in the order of ``torch.cat([x0, x1, x2, x3])``, whereas mmdet's
``SwinTransformer`` unfolds 2x2 patches with ``nn.Unfold`` (order x0, x2, x1, x3,
channel-major). :func:`convert_swin_official` renames the backbone keys and reorders
the PatchMerging weights as ``mmdet.models.backbones.swin.swin_converter`` does;
neck, RPN and RoI-head keys have the same names in mmdet 2.x and 3.x and are kept.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from torch import Tensor

# backbone sub-keys renamed inside each block, official -> mmdet
_BLOCK_RENAMES = (('attn.', 'attn.w_msa.'), ('mlp.fc1.', 'ffn.layers.0.0.'),
                  ('mlp.fc2.', 'ffn.layers.1.'))
_BLOCK = re.compile(r'^backbone\.layers\.(\d+)\.blocks\.(\d+)\.(.+)$')
_DOWNSAMPLE = re.compile(r'^backbone\.layers\.(\d+)\.downsample\.(reduction|norm)\.(.+)$')
_KEPT_BACKBONE = re.compile(r'^backbone\.(norm\d+|patch_embed\.norm)\.(weight|bias)$')
# buffers the official code recomputes (attention masks) and classification heads
_DROPPED = re.compile(r'^backbone\.(layers\.\d+\.blocks\.\d+\.attn_mask|head\.)')
_BLOCK_PARTS = ('norm1.', 'norm2.', 'attn.', 'mlp.fc1.', 'mlp.fc2.')


@dataclass
class ConversionReport:
    """What :func:`convert_swin_official` did to each key of the input."""
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    unmatched: List[str] = field(default_factory=list)


def reorder_reduction(weight: Tensor) -> Tensor:
    """PatchMerging ``reduction.weight`` [out, 4C]: cat order -> ``nn.Unfold`` order."""
    out_channels, in_channels = weight.shape
    weight = weight.reshape(out_channels, 4, in_channels // 4)
    return weight[:, [0, 2, 1, 3], :].transpose(1, 2).reshape(out_channels, in_channels)


def reorder_norm(weight: Tensor) -> Tensor:
    """PatchMerging ``norm.weight`` / ``norm.bias`` [4C]: cat order -> ``nn.Unfold`` order."""
    in_channels = weight.shape[0]
    weight = weight.reshape(4, in_channels // 4)
    return weight[[0, 2, 1, 3], :].transpose(0, 1).reshape(in_channels)


def _block_key(stage: str, block: str, rest: str):
    if not rest.startswith(_BLOCK_PARTS):
        return None
    for old, new in _BLOCK_RENAMES:
        if rest.startswith(old):
            rest = new + rest[len(old):]
            break
    return f'backbone.stages.{stage}.blocks.{block}.{rest}'


def convert_swin_official(state_dict: Dict[str, Tensor]
                          ) -> Tuple['OrderedDict[str, Tensor]', ConversionReport]:
    """Convert an official Swin detection state dict to mmdet 3.x keys.

    Args:
        state_dict: the ``state_dict`` of a Swin-Transformer-Object-Detection
            checkpoint (an optional ``module.`` prefix is removed).

    Returns:
        The converted state dict and a :class:`ConversionReport`. Backbone keys
        that no rule recognises are kept unchanged and listed as ``unmatched``.
    """
    converted, report = OrderedDict(), ConversionReport()
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if _DROPPED.match(key):
            report.dropped.append(key)
            continue
        new_key, new_value = None, value
        if key.startswith('backbone.patch_embed.proj.'):
            new_key = key.replace('patch_embed.proj.', 'patch_embed.projection.', 1)
        elif (block := _BLOCK.match(key)) is not None:
            new_key = _block_key(*block.groups())
        elif (down := _DOWNSAMPLE.match(key)) is not None:
            stage, part, param = down.groups()
            new_key = f'backbone.stages.{stage}.downsample.{part}.{param}'
            new_value = reorder_reduction(value) if part == 'reduction' else reorder_norm(value)
        elif not key.startswith('backbone.') or _KEPT_BACKBONE.match(key):
            converted[key] = value
            report.kept.append(key)
            continue
        if new_key is None:
            converted[key] = value
            report.unmatched.append(key)
        else:
            converted[new_key] = new_value
            report.renamed.append((key, new_key))
    return converted, report

"""Swin-Transformer-Object-Detection (mmdet 2.x) checkpoints -> mmdet 3.x Swin detector keys.

The public COCO checkpoints of the official Swin detection repository (e.g.
``cascade_mask_rcnn_swin_base_patch4_window7.pth``, the ProC-KD teacher) name the
backbone as the official Swin code does (``backbone.layers.{i}.blocks.{j}.attn.qkv``,
``...mlp.fc1``, ``backbone.patch_embed.proj``) and order each PatchMerging layer's
input channels differently from mmdet's ``nn.Unfold``. mmdet's own
``mmdet.models.backbones.swin.swin_converter`` converts such backbone keys (it is what
``SwinTransformer`` applies to ImageNet checkpoints); :func:`convert_swin_official`
applies it to the ``backbone.`` part of a detector checkpoint, drops the attention-mask
buffers the official code stores (mmdet recomputes them), keeps neck, RPN and RoI-head
keys (the same names in mmdet 2.x and 3.x) and reports what happened to every key.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from mmdet.models.backbones.swin import swin_converter
from torch import Tensor

# buffers the official code stores and mmdet recomputes (attention masks), classification heads
_DROPPED = re.compile(r'^backbone\.(layers\.\d+\.blocks\.\d+\.attn_mask|head\.)')
# the keys of mmdet's SwinTransformer
_MMDET_SWIN = re.compile(
    r'^backbone\.(patch_embed\.(projection|norm)\.|norm\d+\.|stages\.\d+\.('
    r'downsample\.(reduction|norm)\.|blocks\.\d+\.(norm1\.|norm2\.|attn\.w_msa\.|ffn\.layers\.)))')


@dataclass
class ConversionReport:
    """What :func:`convert_swin_official` did to each key of the input."""
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    unmatched: List[str] = field(default_factory=list)


def convert_swin_official(state_dict: Dict[str, Tensor]
                          ) -> Tuple['OrderedDict[str, Tensor]', ConversionReport]:
    """Convert an official Swin detection state dict to mmdet 3.x keys.

    Args:
        state_dict: the ``state_dict`` of a Swin-Transformer-Object-Detection
            checkpoint (an optional ``module.`` prefix is removed).

    Returns:
        The converted state dict and a :class:`ConversionReport`. Backbone keys that
        mmdet's converter leaves outside mmdet's Swin layout are listed as ``unmatched``.
    """
    converted, report = OrderedDict(), ConversionReport()
    backbone = OrderedDict()
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if _DROPPED.match(key):
            report.dropped.append(key)
        elif key.startswith('backbone.'):
            backbone[key[len('backbone.'):]] = value
        else:
            converted[key] = value
            report.kept.append(key)
    renamed = swin_converter(backbone)
    # one to one and in order: the only keys it skips (``head.``) were dropped above
    assert len(renamed) == len(backbone), 'mmdet swin_converter skipped backbone keys'
    for old, (new, value) in zip(backbone, renamed.items()):
        old = 'backbone.' + old
        converted[new] = value
        if not _MMDET_SWIN.match(new):
            report.unmatched.append(old)
        elif new == old:
            report.kept.append(old)
        else:
            report.renamed.append((old, new))
    return converted, report

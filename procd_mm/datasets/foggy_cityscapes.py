"""Foggy Cityscapes: Cityscapes annotations with the images of one fog level."""
import json
import os.path as osp
from typing import List

from mmdet.datasets import CityscapesDataset
from mmdet.registry import DATASETS
from mmengine.fileio import exists, get_local_path

from .coco_annotations import check_coco_annotations

#: The attenuation coefficients (1/m) Foggy Cityscapes is released with.
FOGGY_BETAS = (0.005, 0.01, 0.02)
CLEAR_SUFFIX = '_leftImg8bit.png'


def check_beta(beta: float) -> float:
    """Return ``beta`` if it is a Foggy Cityscapes level, else raise ``ValueError``."""
    if beta not in FOGGY_BETAS:
        raise ValueError(f'beta={beta!r} is not a Foggy Cityscapes fog level; '
                         f'use one of {", ".join(map(str, FOGGY_BETAS))}')
    return beta


def foggy_file_name(clear_name: str, beta: float) -> str:
    """Map ``..._leftImg8bit.png`` to the official ``..._leftImg8bit_foggy_beta_<β>.png``."""
    if not clear_name.endswith(CLEAR_SUFFIX):
        raise ValueError(f'not a Cityscapes leftImg8bit file name: {clear_name}')
    return f'{clear_name[:-len(CLEAR_SUFFIX)]}_leftImg8bit_foggy_beta_{check_beta(beta):g}.png'


@DATASETS.register_module()
class FoggyCityscapesDataset(CityscapesDataset):
    """Cityscapes detection dataset reading the Foggy Cityscapes images.

    The annotation file is the Cityscapes one (``file_name`` =
    ``<city>/<name>_leftImg8bit.png``); every image is read from
    ``<data_prefix.img>/<city>/<name>_leftImg8bit_foggy_beta_<beta>.png``, with
    ``data_prefix=dict(img='leftImg8bit_foggy/<split>/')``.

    Args:
        beta: fog level, one of ``0.005``, ``0.01``, ``0.02``.
        **kwargs: the arguments of :class:`mmdet.datasets.CityscapesDataset`.

    Raises:
        ValueError: for another ``beta``.
        FileNotFoundError: if foggy images of annotated frames are missing.
        InputError: ground truth mmdet would drop or misuse without a word (an unknown
            category, a degenerate box, a box outside its image, no images), checked as the
            tools' pre-flight checks do (:func:`check_coco_annotations`), here for any
            runner that builds the dataset.
    """

    def __init__(self, *args, beta: float = 0.02, **kwargs):
        self.beta = check_beta(beta)
        super().__init__(*args, **kwargs)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Parse as Cityscapes, then point ``img_path`` at the foggy image."""
        data_info = super().parse_data_info(raw_data_info)
        file_name = raw_data_info['raw_img_info']['file_name']
        data_info['img_path'] = osp.join(self.data_prefix['img'],
                                         foggy_file_name(file_name, self.beta))
        return data_info

    def load_data_list(self) -> List[dict]:
        """Check the ground truth, load it, and check that every foggy image exists."""
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            with open(local_path, 'rb') as f:
                check_coco_annotations(self.ann_file, json.load(f))
        data_list = super().load_data_list()
        missing = [d['img_path'] for d in data_list
                   if not exists(d['img_path'], backend_args=self.backend_args)]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} Foggy Cityscapes images (beta={self.beta:g}) '
                f'listed in {self.ann_file} are missing, e.g. {", ".join(missing[:3])}')
        return data_list

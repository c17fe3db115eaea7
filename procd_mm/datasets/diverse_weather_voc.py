"""The Diverse-Weather benchmark in its public VOC-XML release.

Layout: ``<root>/<Set>/VOC2007/{Annotations/*.xml, JPEGImages/*.jpg,
ImageSets/Main/{train,test}.txt}`` with ``<Set>`` one of ``daytime_clear``,
``night_rainy``, ``dusk_rainy``, ``night_sunny``, ``daytime_foggy``.
"""
import os.path as osp
from typing import List

from mmdet.datasets import XMLDataset
from mmdet.registry import DATASETS
from mmengine.fileio import list_from_file

SHOWN_MISSING = 5


@DATASETS.register_module()
class DiverseWeatherVOCDataset(XMLDataset):
    """One ``<Set>/VOC2007`` folder of the Diverse-Weather VOC-XML release.

    Configure like mmdet's ``VOCDataset``: ``ann_file`` is the ImageSets list
    and ``data_prefix=dict(sub_data_root='<Set>/VOC2007/')``. Boxes follow the
    VOC convention (1-based pixels, mmdet subtracts 1), ``difficult`` objects
    are ignored.

    ``VOCDataset`` is not the base on purpose: it sets ``dataset_type`` to
    ``'VOC2007'`` whenever that string is in the path, and ``VOCMetric`` then
    names its per-class rows with the 20 PASCAL classes. Here ``dataset_type``
    is always ``'DiverseWeather'``, so the benchmark's 7 class names are used.

    Raises ``FileNotFoundError`` (how many, the first few) when images or XML
    files listed in ``ann_file`` are missing, for local files.
    """

    METAINFO = {
        'classes': ('bus', 'bike', 'car', 'motor', 'person', 'rider', 'truck'),
        'palette': [(0, 60, 100), (119, 11, 32), (0, 0, 142), (0, 0, 230),
                    (220, 20, 60), (255, 0, 0), (0, 0, 70)],
        'dataset_type': 'DiverseWeather',
    }

    def load_data_list(self) -> List[dict]:
        """Check the listed files exist, then parse them as ``XMLDataset``."""
        img_ids = list_from_file(self.ann_file, backend_args=self.backend_args)
        if not img_ids:
            raise ValueError(f'{self.ann_file}: lists no images')
        if self.backend_args is None:
            for subdir, ext in ((self.ann_subdir, 'xml'), (self.img_subdir, 'jpg')):
                self._check_exist(subdir, ext, img_ids)
        return super().load_data_list()

    def _check_exist(self, subdir: str, ext: str, img_ids: List[str]) -> None:
        folder = osp.join(self.sub_data_root, subdir)
        missing = [i for i in img_ids if not osp.isfile(osp.join(folder, f'{i}.{ext}'))]
        if missing:
            shown = ', '.join(f'{i}.{ext}' for i in missing[:SHOWN_MISSING])
            more = ', ...' if len(missing) > SHOWN_MISSING else ''
            raise FileNotFoundError(
                f'{len(missing)} of {len(img_ids)} files listed in {self.ann_file} '
                f'are missing from {folder}: {shown}{more}')

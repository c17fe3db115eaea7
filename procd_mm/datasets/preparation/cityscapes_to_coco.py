"""Convert official Cityscapes ``gtFine`` annotations to COCO instance JSON.

Writes what mmdet's ``tools/dataset_converters/cityscapes.py`` writes: instance
masks are read from ``*_gtFine_instanceIds.png`` (ids ``>= 1000`` are
``label_id * 1000 + k``, ids ``< 1000`` of instance classes are crowd regions);
each segmentation is the exact mask as COCO RLE (holes kept), boxes and areas come
from it via pycocotools. Categories are numbered ``1..8`` in the order of mmdet's
``CityscapesDataset.METAINFO['classes']`` (mmdet numbers them by Cityscapes label
id; both are read by name). Beyond mmdet's converter, the ``*_gtFine_polygons.json``
of every image is read to validate it and to check the image size against the
instance PNG, every split is converted before anything is written, and the
files are written atomically.
"""
import glob
import json
import os.path as osp
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from cityscapesscripts.helpers.labels import id2label, name2label
from mmengine.utils import track_parallel_progress, track_progress

#: The 8 Cityscapes instance classes, in mmdet ``CityscapesDataset`` order.
CITYSCAPES_CLASSES = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle',
                      'bicycle')
#: Cityscapes label id -> COCO category id (1-based, ``CITYSCAPES_CLASSES`` order).
LABEL_ID_TO_CAT_ID = {name2label[name].id: i + 1 for i, name in enumerate(CITYSCAPES_CLASSES)}

IMG_SUFFIX = '_leftImg8bit.png'


def ann_file_name(split: str) -> str:
    """Return the COCO annotation file name used for ``split``."""
    return f'instancesonly_filtered_gtFine_{split}.json'


def read_polygon_json(path: str) -> dict:
    """Read and validate a Cityscapes ``*_gtFine_polygons.json`` file.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is empty, not JSON, or lacks ``imgHeight``,
            ``imgWidth`` or ``objects``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'missing Cityscapes polygon annotation: {path}')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if not text.strip():
        raise ValueError(f'empty Cityscapes polygon annotation: {path}')
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'corrupt Cityscapes polygon annotation {path}: {err}') from None
    missing = [k for k in ('imgHeight', 'imgWidth', 'objects') if not isinstance(data, dict)
               or k not in data]
    if missing:
        raise ValueError(f'Cityscapes polygon annotation {path} lacks key(s) {missing}')
    return data


def collect_files(root: str, split: str) -> list:
    """List ``(image, instanceIds png, polygons json)`` paths of one split, sorted.

    Raises:
        FileNotFoundError: if the split's image folder is missing or empty.
    """
    img_dir = osp.join(root, 'leftImg8bit', split)
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'Cityscapes image folder not found: {img_dir}')
    images = sorted(glob.glob(osp.join(img_dir, '*', '*' + IMG_SUFFIX)))
    if not images:
        raise FileNotFoundError(f'no *{IMG_SUFFIX} images found under {img_dir}')
    files = []
    for img in images:
        rel = osp.relpath(img, img_dir)[:-len(IMG_SUFFIX)]
        stem = osp.join(root, 'gtFine', split, rel)
        files.append((img, stem + '_gtFine_instanceIds.png', stem + '_gtFine_polygons.json'))
    return files


def load_img_info(files: Tuple[str, str, str]) -> dict:
    """Build the COCO image entry and its annotations for one Cityscapes image."""
    img_file, inst_file, poly_file = files
    poly = read_polygon_json(poly_file)
    if not osp.isfile(inst_file):
        raise FileNotFoundError(f'missing Cityscapes instance map: {inst_file}')
    inst_img = cv2.imread(inst_file, cv2.IMREAD_UNCHANGED)
    if inst_img is None or inst_img.ndim != 2:
        raise ValueError(f'unreadable or non single-channel instance map: {inst_file}')
    if inst_img.shape != (poly['imgHeight'], poly['imgWidth']):
        raise ValueError(f'{inst_file} has size {inst_img.shape} but {poly_file} says '
                         f'{(poly["imgHeight"], poly["imgWidth"])}')
    anns = []
    for inst_id in np.unique(inst_img[inst_img >= 24]).tolist():
        label_id = inst_id // 1000 if inst_id >= 1000 else inst_id
        label = id2label.get(label_id)
        if label is None or label.id not in LABEL_ID_TO_CAT_ID:
            continue
        mask = np.asarray(inst_img == inst_id, dtype=np.uint8, order='F')
        rle = mask_utils.encode(mask[:, :, None])[0]
        bbox, area = mask_utils.toBbox(rle), mask_utils.area(rle)
        rle['counts'] = rle['counts'].decode()
        anns.append(dict(
            iscrowd=int(inst_id < 1000),
            category_id=LABEL_ID_TO_CAT_ID[label.id],
            bbox=[float(v) for v in bbox],
            area=float(area),
            segmentation=rle))
    city = osp.basename(osp.dirname(img_file))
    return dict(file_name=f'{city}/{osp.basename(img_file)}',
                height=int(inst_img.shape[0]), width=int(inst_img.shape[1]),
                segm_file=f'{city}/{osp.basename(inst_file)}', anns=anns)


def build_coco(image_infos: Sequence[dict]) -> dict:
    """Assemble COCO JSON (1-based image / annotation ids) from per-image infos."""
    images, annotations = [], []
    for img_id, info in enumerate(image_infos, start=1):
        info = dict(info)
        for ann in info.pop('anns'):
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=img_id))
        images.append(dict(info, id=img_id))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CITYSCAPES_CLASSES)]
    return dict(images=images, annotations=annotations, categories=categories)


def _track(files: list, nproc: int) -> list:
    """``load_img_info`` over ``files`` (in order), with mmengine's progress bar."""
    if nproc > 1:
        return track_parallel_progress(load_img_info, files, nproc=nproc)
    return track_progress(load_img_info, files)


def convert_split(root: str, split: str, nproc: int = 1) -> dict:
    """Convert one split of a Cityscapes tree to a COCO dict (not written)."""
    return build_coco(_track(collect_files(root, split), nproc))


def convert_cityscapes(cityscapes_root: str, out_dir: str,
                       splits: Sequence[str] = ('train', 'val'),
                       nproc: int = 1) -> Dict[str, str]:
    """Write ``instancesonly_filtered_gtFine_{split}.json`` for each split.

    Everything is checked and converted before anything is written: a missing
    root or split, or an unreadable annotation of any split, leaves ``out_dir``
    as it was (not even created). Each file is written to a temporary file and
    renamed, so a JSON on disk is always whole.

    Args:
        cityscapes_root: folder holding ``leftImg8bit/`` and ``gtFine/``.
        out_dir: where the JSON files go (created if needed).
        splits: the splits to convert.
        nproc: worker processes (``1`` converts in this process).

    Returns:
        ``{split: path of the written JSON}``.
    """
    from procd_mm.utils.checkpoint_io import write_atomically
    if nproc < 1:
        raise ValueError(f'nproc must be >= 1, got {nproc}')
    if not osp.isdir(cityscapes_root):
        raise FileNotFoundError(f'Cityscapes root not found: {cityscapes_root}')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'output folder {out_dir} exists and is not a directory')
    files = {split: collect_files(cityscapes_root, split) for split in splits}
    cocos = {split: build_coco(_track(files[split], nproc))
             for split in splits}
    paths = {}
    for split, coco in cocos.items():
        path = osp.join(out_dir, ann_file_name(split))
        write_atomically(path, lambda f, coco=coco: f.write(json.dumps(coco, allow_nan=False)), 'w')
        paths[split] = path
    return paths

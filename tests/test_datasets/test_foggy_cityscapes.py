"""FoggyCityscapesDataset and the Cityscapes / Foggy Cityscapes dataset configs."""
import os
import os.path as osp

import pytest
from mmdet.registry import DATASETS
from mmengine import Config
from mmengine.registry import DefaultScope

import procd_mm  # noqa: F401  (registers the dataset)
from procd_mm.datasets.foggy_cityscapes import FoggyCityscapesDataset, foggy_file_name
from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
from tests.conftest import REPO

CFG_DIR = osp.join(REPO, 'configs', '_base_', 'datasets')
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')]


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    result = generate_synthetic_cityscapes(root, seed=7, num_train=2, num_val=2, height=64,
                                           width=128)
    foggify_cityscapes(root, 0.02, splits=('val',))
    return result


def build(root, split='val', **kwargs):
    cfg = dict(type='FoggyCityscapesDataset', data_root=root,
               ann_file=f'annotations/instancesonly_filtered_gtFine_{split}.json',
               data_prefix=dict(img=f'leftImg8bit_foggy/{split}/'), pipeline=PIPELINE)
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dict(cfg, **kwargs))
        return dataset, dataset[0]


def test_foggy_file_name():
    assert foggy_file_name('aachen/aachen_000000_000019_leftImg8bit.png', 0.005) == \
        'aachen/aachen_000000_000019_leftImg8bit_foggy_beta_0.005.png'
    with pytest.raises(ValueError, match='not a Cityscapes leftImg8bit file name: a.jpg'):
        foggy_file_name('a.jpg', 0.02)


def test_foggy_dataset_reads_foggy_images(tree):
    dataset, sample = build(tree['root'])
    assert isinstance(dataset, FoggyCityscapesDataset) and dataset.beta == 0.02
    records = tree['ground_truth']['val']
    assert len(dataset) == len(records)
    for i, rec in enumerate(records):
        info = dataset.get_data_info(i)
        city, name = rec['file_name'].split('/')
        assert info['img_path'] == osp.join(
            tree['root'], 'leftImg8bit_foggy', 'val', city,
            name.replace('_leftImg8bit.png', '_leftImg8bit_foggy_beta_0.02.png'))
        assert len(info['instances']) == len(rec['instances'])
    assert tuple(sample['inputs'].shape) == (3, 64, 128)
    assert sample['data_samples'].img_path.endswith('_leftImg8bit_foggy_beta_0.02.png')


def test_bad_beta_and_missing_images(tree):
    with pytest.raises(ValueError, match='beta=0.03 is not a Foggy Cityscapes fog level'):
        build(tree['root'], beta=0.03)
    # no beta=0.01 images were written: both are missing
    with pytest.raises(FileNotFoundError, match=r'2 of 2 .*beta=0.01.* missing, e\.g\. .*'
                       r'frankfurt_000000_000019_leftImg8bit_foggy_beta_0\.01\.png'):
        build(tree['root'], beta=0.01)
    with pytest.raises(FileNotFoundError, match='2 of 2'):
        build(tree['root'], split='train')


def test_one_missing_image_is_reported(tree, tmp_path):
    root = str(tmp_path / 'cs')
    generate_synthetic_cityscapes(root, seed=7, num_train=2, num_val=2, height=64, width=128)
    written = foggify_cityscapes(root, 0.02, splits=('val',))['val']
    os.remove(written[1])
    with pytest.raises(FileNotFoundError, match=r'1 of 2 .* e\.g\. .*frankfurt_000001'):
        build(root)


def test_configs_load_and_build(tree):
    clear = Config.fromfile(osp.join(CFG_DIR, 'cityscapes_detection.py'))
    train = clear.train_dataloader.dataset
    assert clear.train_dataloader.batch_size == 2  # the paper's 2 images per GPU, no repeat
    assert dict(type='LoadAnnotations', with_bbox=True, with_mask=True) in clear.train_pipeline
    assert train.type == 'CityscapesDataset' and clear.data_root == 'data/cityscapes/'
    assert train.data_prefix.img == 'leftImg8bit/train/'
    assert clear.train_pipeline[2] == dict(type='RandomResize', scale=[(2048, 800), (2048, 1024)],
                                           keep_ratio=True)
    assert dict(type='Resize', scale=(2048, 1024), keep_ratio=True) in clear.test_pipeline
    assert clear.val_evaluator.type == 'PerClassAP50Metric' and clear.val_evaluator.metric == 'bbox'

    foggy = Config.fromfile(osp.join(CFG_DIR, 'foggy_cityscapes_detection.py'))
    assert foggy.beta == 0.02  # custom_imports come with configs/_base_/default_runtime.py
    for ds in (foggy.train_dataloader.dataset, foggy.val_dataloader.dataset,
               foggy.test_dataloader.dataset):
        assert ds.type == 'FoggyCityscapesDataset' and ds.beta == foggy.beta
        assert ds.data_prefix.img.startswith('leftImg8bit_foggy/')
        assert ds.ann_file.startswith('annotations/instancesonly_filtered_gtFine_')
    assert foggy.test_dataloader.dataset.data_prefix.img == 'leftImg8bit_foggy/val/'

    cross = Config.fromfile(osp.join(CFG_DIR, 'cityscapes_to_foggy_detection.py'))
    assert cross.train_dataloader.dataset.type == 'CityscapesDataset'
    assert cross.train_dataloader.dataset.data_prefix.img == 'leftImg8bit/train/'
    for loader in (cross.val_dataloader, cross.test_dataloader):
        assert loader.dataset.type == 'FoggyCityscapesDataset' and loader.dataset.beta == 0.02
        assert loader.dataset.data_prefix.img == 'leftImg8bit_foggy/val/'

    val = dict(foggy.val_dataloader.dataset, data_root=tree['root'] + '/', pipeline=PIPELINE)
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert len(DATASETS.build(val)) == 2


def test_ground_truth_is_checked_when_the_dataset_loads(tree, tmp_path):
    """Built by any runner (not only the project's tools), an annotation in a category the
    file does not have is one error naming the file, the annotation and its image."""
    import json
    import shutil

    from procd_mm.utils import InputError
    root = str(tmp_path / 'copy')
    shutil.copytree(tree['root'], root)
    ann_file = osp.join(root, 'annotations', 'instancesonly_filtered_gtFine_val.json')
    with open(ann_file) as f:
        coco = json.load(f)
    first = coco['annotations'][0]
    first['category_id'] = 99
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    with pytest.raises(InputError, match=rf"annotation {first['id']} \(image "
                                         rf"{first['image_id']}, .+\): category_id 99 is not "
                                         'among the categories'):
        build(root)

"""BDD100k weather splits: converter, CLI, VOC-XML dataset and dataset configs."""
import importlib.util
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmdet.datasets import CocoDataset
from mmengine import Config

import procd_mm  # noqa: F401  (registers the dataset)
from procd_mm.datasets.diverse_weather_voc import DiverseWeatherVOCDataset
from procd_mm.datasets.preparation.bdd_weather import (
    CLASSES,
    convert,
    load_bdd_labels,
    write_splits,
)
from tests.conftest import REPO


def frame(name, timeofday, weather, labels):
    return dict(name=name, attributes=dict(weather=weather, timeofday=timeofday,
                                           scene='city street'), labels=labels)


def box(category, x1, y1, x2, y2):
    return dict(category=category, box2d=dict(x1=x1, y1=y1, x2=x2, y2=y2))


FRAMES = [
    frame('day.jpg', 'daytime', 'clear', [
        box('car', 10, 20, 110, 70),
        box('pedestrian', 200, 100, 230, 180),  # new name -> person
        box('traffic sign', 0, 0, 5, 5),  # dropped
        dict(category='drivable area', poly2d=[]),  # dropped, no box
    ]),
    frame('nightrain.jpg', 'night', 'rainy', [
        box('bicycle', 5, 5, 25, 45),  # -> bike
        box('motor', 30, 30, 60, 60),  # old name kept
        box('scooter', 1, 1, 9, 9),  # unknown: counted
    ]),
    frame('dusk.jpg', 'dawn/dusk', 'rainy', [box('truck', 0, 0, 1300, 800)]),  # clipped
    frame('nightclear.jpg', 'night', 'clear', [box('motorcycle', 1, 2, 3, 4)]),
    frame('overcast.jpg', 'daytime', 'overcast', [box('car', 1, 1, 50, 50)]),  # no split
    frame('daysnow.jpg', 'daytime', 'snowy', []),  # no split
]


@pytest.fixture
def label_file(tmp_path):
    path = tmp_path / 'det_train.json'
    path.write_text(json.dumps(FRAMES))
    return str(path)


def boxes_of(coco):
    names = {c['id']: c['name'] for c in coco['categories']}
    files = {i['id']: i['file_name'] for i in coco['images']}
    return sorted((files[a['image_id']], names[a['category_id']], a['bbox'])
                  for a in coco['annotations'])


def scalabel_box2d_to_bbox(x1, y1, x2, y2):
    """BDD100k's official COCO conversion (scalabel.label.to_coco.box2d_to_bbox)."""
    return [x1, y1, x2 - x1 + 1, y2 - y1 + 1]


def test_boxes_follow_bdd100k_official_coco_conversion(label_file):
    """Inclusive pixel corners: the car box 10..110 x 20..70 is 101 x 51 pixels."""
    coco = convert([label_file], ['train/']).splits['daytime_sunny']
    names = {c['id']: c['name'] for c in coco['categories']}
    car = next(a for a in coco['annotations'] if names[a['category_id']] == 'car')
    assert car['bbox'] == scalabel_box2d_to_bbox(10.0, 20.0, 110.0, 70.0)
    assert car['area'] == 101.0 * 51.0


def test_splits_classes_and_boxes(label_file):
    result = convert([label_file], ['train/'])
    splits = result.splits
    assert set(splits) == {'daytime_sunny', 'night_rainy', 'dusk_rainy', 'night_sunny'}
    for coco in splits.values():
        assert [c['name'] for c in coco['categories']] == list(CLASSES)
        assert all((i['width'], i['height']) == (1280, 720) for i in coco['images'])
    assert boxes_of(splits['daytime_sunny']) == [
        ('train/day.jpg', 'car', [10.0, 20.0, 101.0, 51.0]),
        ('train/day.jpg', 'person', [200.0, 100.0, 31.0, 81.0]),
    ]
    assert boxes_of(splits['night_rainy']) == [
        ('train/nightrain.jpg', 'bike', [5.0, 5.0, 21.0, 41.0]),
        ('train/nightrain.jpg', 'motor', [30.0, 30.0, 31.0, 31.0]),
    ]
    assert boxes_of(splits['dusk_rainy']) == [
        ('train/dusk.jpg', 'truck', [0.0, 0.0, 1280.0, 720.0])]
    assert boxes_of(splits['night_sunny']) == [
        ('train/nightclear.jpg', 'motor', [1.0, 2.0, 3.0, 3.0])]
    assert result.unknown_categories == {'scooter': 1}
    assert result.dropped_categories == {'traffic sign': 1, 'drivable area': 1}


def test_written_split_loads_as_config_dataset(label_file, tmp_path):
    """The converter's JSON is read by CocoDataset as the dataset configs set it up."""
    paths = write_splits(convert([label_file]), str(tmp_path / 'ann'))
    dataset = CocoDataset(ann_file=paths['night_rainy'], metainfo=dict(classes=CLASSES),
                          data_prefix=dict(img='images/'), test_mode=True, pipeline=[])
    info = dataset.get_data_info(0)
    assert len(dataset) == 1 and info['img_path'] == osp.join('images', 'nightrain.jpg')
    assert [(i['bbox'], CLASSES[i['bbox_label']]) for i in info['instances']] == [
        ([5.0, 5.0, 26.0, 46.0], 'bike'), ([30.0, 30.0, 61.0, 61.0], 'motor')]


@pytest.mark.parametrize('text, message', [
    ('[{"name": ', 'not valid JSON'),
    ('\n', 'file is empty'),
    ('[]', 'contains no images'),
    ('{"name": "a.jpg"}', 'expected a JSON list'),
])
def test_corrupt_and_empty_files_are_named(tmp_path, text, message):
    path = tmp_path / 'labels.json'
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_bdd_labels(str(path))
    assert str(err.value).startswith(f'{path}: ')


def test_bad_box_and_duplicate_image_are_reported(tmp_path, label_file):
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps([frame('x.jpg', 'night', 'rainy', [
        dict(category='car', box2d=dict(x1='a', y1=0, x2=1, y2=1))])]))
    with pytest.raises(ValueError, match=r'bad\.json: image #0 \(x\.jpg\): bad box2d'):
        convert([str(bad)])
    with pytest.raises(ValueError, match='day.jpg is also in'):
        convert([label_file, label_file])
    with pytest.raises(ValueError, match='2 image prefixes for 1 label files'):
        convert([label_file], ['a/', 'b/'])


def load_cli():
    path = osp.join(REPO, 'tools', 'dataset_converters', 'bdd100k_weather.py')
    spec = importlib.util.spec_from_file_location('bdd100k_weather_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_prints_counts_and_unknown(label_file, tmp_path, capsys):
    out_dir = tmp_path / 'out'
    assert load_cli().main([label_file, '--out-dir', str(out_dir)]) == 0
    captured = capsys.readouterr()
    assert 'night_rainy' in captured.out and '1 images, 2 boxes' in captured.out
    assert 'daytime_sunny' in captured.out and '1 images, 2 boxes' in captured.out
    assert 'unknown categories skipped: scooter: 1' in captured.err
    assert (out_dir / 'dusk_rainy.json').is_file()


def test_cli_error_is_one_line(tmp_path, capsys):
    missing = str(tmp_path / 'missing.json')
    assert load_cli().main([missing, '--out-dir', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'missing.json' in err and 'Traceback' not in err


XML = """<annotation><filename>{name}.jpg</filename>
<size><width>64</width><height>48</height><depth>3</depth></size>{objects}</annotation>"""
OBJECT = """<object><name>{cls}</name><difficult>{difficult}</difficult>
<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"""


def make_voc_set(root, images, missing_jpg=()):
    """A ``<root>/night_rainy/VOC2007`` tree as in the public release."""
    base = root / 'night_rainy' / 'VOC2007'
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name, objects in images.items():
        (base / 'Annotations' / f'{name}.xml').write_text(XML.format(name=name, objects=''.join(
            OBJECT.format(cls=c, difficult=d, x1=b[0], y1=b[1], x2=b[2], y2=b[3])
            for c, b, d in objects)))
        if name not in missing_jpg:
            cv2.imwrite(str(base / 'JPEGImages' / f'{name}.jpg'), np.zeros((48, 64, 3), np.uint8))
    (base / 'ImageSets' / 'Main' / 'test.txt').write_text('\n'.join(images) + '\n')


def voc_dataset(root):
    return DiverseWeatherVOCDataset(
        data_root=str(root), ann_file='night_rainy/VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='night_rainy/VOC2007/'), test_mode=True, pipeline=[])


def test_voc_release_layout_loads(tmp_path):
    make_voc_set(tmp_path, {
        'a': [('car', (11, 21, 31, 41), 0), ('rider', (2, 3, 8, 9), 1)],
        'b': [('motor', (5, 6, 7, 8), 0), ('traffic light', (1, 1, 4, 4), 0)],
    })
    dataset = voc_dataset(tmp_path)
    assert dataset.metainfo['classes'] == CLASSES
    assert dataset.metainfo['dataset_type'] == 'DiverseWeather'
    assert len(dataset) == 2
    a, b = dataset.get_data_info(0), dataset.get_data_info(1)
    assert a['img_path'].endswith(osp.join('night_rainy', 'VOC2007', 'JPEGImages', 'a.jpg'))
    assert (a['width'], a['height']) == (64, 48)
    assert [(i['bbox'], CLASSES[i['bbox_label']], i['ignore_flag']) for i in a['instances']] == [
        ([10, 20, 30, 40], 'car', 0), ([1, 2, 7, 8], 'rider', 1)]
    assert [(i['bbox'], CLASSES[i['bbox_label']]) for i in b['instances']] == [
        ([4, 5, 6, 7], 'motor')]


def test_voc_missing_images_error(tmp_path):
    make_voc_set(tmp_path, {n: [] for n in 'abcdefg'}, missing_jpg='bcdefg')
    with pytest.raises(FileNotFoundError, match=r'6 of 7 files .* b\.jpg, c\.jpg, d\.jpg, '
                       r'e\.jpg, f\.jpg, \.\.\.$'):
        voc_dataset(tmp_path)


@pytest.mark.parametrize('target', ['night_rainy', 'dusk_rainy'])
def test_dataset_configs_load(target):
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', '_base_', 'datasets', f'bdd_daytime_sunny_to_{target}.py'))
    train, test = cfg.train_dataloader.dataset, cfg.test_dataloader.dataset
    assert train.type == test.type == 'CocoDataset'
    assert train.data_root == test.data_root == 'data/bdd100k/'
    assert train.ann_file == 'annotations/daytime_sunny.json'
    assert test.ann_file == cfg.val_dataloader.dataset.ann_file == f'annotations/{target}.json'
    assert tuple(train.metainfo.classes) == CLASSES == tuple(test.metainfo.classes)
    assert cfg.test_evaluator.type == 'PerClassAP50Metric'
    assert cfg.test_evaluator.ann_file == f'data/bdd100k/annotations/{target}.json'
    resize = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (1280, 720) and resize.keep_ratio


def test_a_rerun_on_other_labels_writes_only_their_splits(label_file, tmp_path, capsys):
    """Night-only labels rerun into the same folder: the night split is replaced (and said
    to be), the splits they hold no image of keep the earlier run's files byte for byte."""
    out_dir = tmp_path / 'out'
    cli = load_cli()
    assert cli.main([label_file, '--out-dir', str(out_dir)]) == 0
    earlier = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    assert sorted(earlier) == ['daytime_sunny.json', 'dusk_rainy.json', 'night_rainy.json',
                               'night_sunny.json']
    capsys.readouterr()
    night = tmp_path / 'night.json'
    night.write_text(json.dumps([frame('other_night.jpg', 'night', 'rainy',
                                       [box('car', 1, 1, 40, 40)])]))
    assert cli.main([str(night), '--out-dir', str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert f'1 images, 1 boxes -> {out_dir / "night_rainy.json"} (replaced)' in out
    assert 'daytime_sunny  (daytime + clear): no image in the label files, not written' in out
    for name in ('daytime_sunny.json', 'dusk_rainy.json', 'night_sunny.json'):
        assert (out_dir / name).read_bytes() == earlier[name]
    rewritten = json.loads((out_dir / 'night_rainy.json').read_text())
    assert [i['file_name'] for i in rewritten['images']] == ['other_night.jpg']
    assert not [p for p in out_dir.iterdir() if p.name.startswith('.')]


def test_labels_of_no_split_write_nothing(tmp_path, capsys):
    labels = tmp_path / 'overcast.json'
    labels.write_text(json.dumps([frame('o.jpg', 'daytime', 'overcast', [])]))
    assert load_cli().main([str(labels), '--out-dir', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: the label files hold no image of the splits')
    assert not (tmp_path / 'out').exists()

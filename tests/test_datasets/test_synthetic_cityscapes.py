"""Synthetic Cityscapes generator, Cityscapes -> COCO converter and their CLIs."""
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from cityscapesscripts.helpers.labels import name2label
from mmdet.registry import DATASETS
from mmengine.registry import DefaultScope

import procd_mm  # noqa: F401  (registers components)
from procd_mm.datasets.preparation.cityscapes_to_coco import CITYSCAPES_CLASSES, convert_cityscapes
from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
from tests.conftest import REPO

SMALL = dict(num_train=3, num_val=2, height=64, width=128)
HEIGHTS_M = dict(person=1.75, rider=1.85, car=1.5, truck=3.0, bus=3.2, train=3.8,
                 motorcycle=1.2, bicycle=1.1)
NAME_RE = re.compile(r'^(aachen|frankfurt)_\d{6}_\d{6}$')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    return generate_synthetic_cityscapes(root, seed=3, **SMALL)


def load_cli(rel_path):
    spec = importlib.util.spec_from_file_location('cli_' + osp.basename(rel_path)[:-3],
                                                  osp.join(REPO, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_files(root):
    return sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, '**', '*'),
                                                             recursive=True) if osp.isfile(p))


def test_tree_layout_and_file_formats(tree):
    root = tree['root']
    for split, city, num in (('train', 'aachen', 3), ('val', 'frankfurt', 2)):
        images = sorted(glob.glob(osp.join(root, 'leftImg8bit', split, city, '*.png')))
        assert len(images) == num
        for img_path in images:
            name = osp.basename(img_path)[:-len('_leftImg8bit.png')]
            assert NAME_RE.match(name), name
            img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED)
            assert img.shape == (64, 128, 3) and img.dtype == np.uint8
            gt = osp.join(root, 'gtFine', split, city, name)
            inst = cv2.imread(gt + '_gtFine_instanceIds.png', cv2.IMREAD_UNCHANGED)
            labels = cv2.imread(gt + '_gtFine_labelIds.png', cv2.IMREAD_UNCHANGED)
            assert inst.dtype == np.uint16 and labels.dtype == np.uint8
            assert inst.shape == labels.shape == (64, 128)
            # instance pixels are label_id * 1000 + k, stuff pixels carry their label id
            np.testing.assert_array_equal(np.where(inst >= 1000, inst // 1000, inst), labels)
            with open(gt + '_gtFine_polygons.json') as f:
                poly = json.load(f)
            assert (poly['imgHeight'], poly['imgWidth']) == (64, 128)
            assert {'sky', 'road', 'building'} <= {o['label'] for o in poly['objects']}
            with open(osp.join(root, 'camera', split, city, name + '_camera.json')) as f:
                cam = json.load(f)
            assert cam['extrinsic']['baseline'] == pytest.approx(0.209313)
            assert cam['intrinsic']['fx'] == pytest.approx(2262.52 * 128 / 2048)
            assert cam['intrinsic']['v0'] == pytest.approx(513.137 * 64 / 1024)
            assert osp.isfile(osp.join(root, 'disparity', split, city, name + '_disparity.png'))
    assert sorted(os.listdir(osp.join(root, 'annotations'))) == [
        'instancesonly_filtered_gtFine_train.json', 'instancesonly_filtered_gtFine_val.json']


def test_same_seed_same_bytes_other_seed_differs(tree, tmp_path):
    again = generate_synthetic_cityscapes(str(tmp_path / 'again'), seed=3, **SMALL)['root']
    other = generate_synthetic_cityscapes(str(tmp_path / 'other'), seed=4, **SMALL)['root']
    files = all_files(tree['root'])
    assert files == all_files(again) and len(files) == 5 * 6 + 2
    for rel in files:
        with open(osp.join(tree['root'], rel), 'rb') as a, open(osp.join(again, rel), 'rb') as b:
            assert a.read() == b.read(), rel
    img = 'leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png'
    with open(osp.join(tree['root'], img), 'rb') as a, open(osp.join(other, img), 'rb') as b:
        assert a.read() != b.read()


def test_every_class_in_both_splits_and_perspective(tree):
    v0 = 513.137 * 64 / 1024
    for records in tree['ground_truth'].values():
        assert {i['label'] for r in records for i in r['instances']} == set(CITYSCAPES_CLASSES)
        for r in records:
            assert len(r['instances']) >= 3
            for inst in r['instances']:
                x, y, w, h = inst['bbox']
                assert x >= 0 and y >= 0 and x + w <= 128 and y + h <= 64
                # the object stands on the road: its height follows the distance below v0
                h_m = HEIGHTS_M[inst['label']]
                h_px = (y + h - 1 - v0) / 1.22 * h_m
                assert h == pytest.approx(h_px, abs=0.5 * h_m / 1.22 + 1.5)


def test_converter_matches_generator_ground_truth(tree):
    for split, records in tree['ground_truth'].items():
        with open(tree['annotations'][split]) as f:
            coco = json.load(f)
        assert [c['name'] for c in sorted(coco['categories'], key=lambda c: c['id'])] == \
            list(CITYSCAPES_CLASSES)
        assert [c['id'] for c in coco['categories']] == list(range(1, 9))
        assert [im['file_name'] for im in coco['images']] == [r['file_name'] for r in records]
        names = {c['id']: c['name'] for c in coco['categories']}
        for im, rec in zip(coco['images'], records):
            anns = [a for a in coco['annotations'] if a['image_id'] == im['id']]
            got = sorted((names[a['category_id']], a['bbox'], a['area']) for a in anns)
            want = sorted((i['label'], [float(v) for v in i['bbox']], float(i['area']))
                          for i in rec['instances'])
            assert got == want
            for a in anns:
                assert a['iscrowd'] == 0 and set(a['segmentation']) == {'size', 'counts'}


def load_mmdet_converter():
    """mmdet's own ``tools/dataset_converters/cityscapes.py`` (installed with mmdet)."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'dataset_converters',
                    'cityscapes.py')
    spec = importlib.util.spec_from_file_location('mmdet_cityscapes_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decoded(coco):
    """{file: sorted (class, crowd, bbox, area, mask bytes)} of a COCO dict."""
    names = {c['id']: c['name'] for c in coco['categories']}
    files = {im['id']: im['file_name'] for im in coco['images']}
    out = {f: [] for f in files.values()}
    for a in coco['annotations']:
        mask = mask_utils.decode(a['segmentation'])
        out[files[a['image_id']]].append((names[a['category_id']], a['iscrowd'],
                                          [round(v, 3) for v in a['bbox']], a['area'],
                                          mask.tobytes()))
    return {f: sorted(v) for f, v in out.items()}


def test_converter_equals_mmdets_own_masks_and_holes_included(tree, tmp_path):
    """Same images, classes, crowd flags, boxes, areas and exact masks as mmdet's converter,
    on a tree where one instance has a hole (polygons of outer contours would fill it)."""
    root = str(tmp_path / 'tree')
    shutil.copytree(tree['root'], root)
    inst_png = sorted(glob.glob(osp.join(root, 'gtFine', 'val', '*',
                                         '*_gtFine_instanceIds.png')))[0]
    inst = cv2.imread(inst_png, cv2.IMREAD_UNCHANGED)
    ids, counts = np.unique(inst[inst >= 1000], return_counts=True)
    inst_id = ids[counts.argmax()]
    ys, xs = np.nonzero(inst == inst_id)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    assert (inst[cy - 1:cy + 2, cx - 1:cx + 2] == inst_id).all()
    inst[cy - 1:cy + 2, cx - 1:cx + 2] = 0  # a 3x3 hole inside the instance
    cv2.imwrite(inst_png, inst)

    ours = json.load(open(convert_cityscapes(root, str(tmp_path / 'ours'),
                                             splits=('val',))['val']))
    mmdet_tool = load_mmdet_converter()
    files = mmdet_tool.collect_files(osp.join(root, 'leftImg8bit', 'val'),
                                     osp.join(root, 'gtFine', 'val'))
    theirs = mmdet_tool.cvt_annotations(mmdet_tool.collect_annotations(files),
                                        str(tmp_path / 'mmdet.json'))
    assert decoded(ours) == decoded(theirs)
    holed = next(a for a in ours['annotations']
                 if mask_utils.decode(a['segmentation'])[cy, cx] == 0
                 and mask_utils.decode(a['segmentation'])[cy - 2, cx] == 1)
    assert mask_utils.area(holed['segmentation']) == holed['area']


def test_converter_parallel_equals_serial(tree, tmp_path):
    paths = convert_cityscapes(tree['root'], str(tmp_path), splits=('train',), nproc=2)
    with open(paths['train']) as a, open(tree['annotations']['train']) as b:
        assert json.load(a) == json.load(b)


def test_mmdet_cityscapes_dataset_loads(tree):
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dict(
            type='CityscapesDataset', data_root=tree['root'],
            ann_file='annotations/instancesonly_filtered_gtFine_train.json',
            data_prefix=dict(img='leftImg8bit/train/'),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='PackDetInputs')]))
        sample = dataset[0]
    records = tree['ground_truth']['train']
    assert len(dataset) == len(records)
    n_inst = sum(len(dataset.get_data_info(i)['instances']) for i in range(len(dataset)))
    assert n_inst == sum(len(r['instances']) for r in records)
    assert tuple(sample['inputs'].shape) == (3, 64, 128)
    labels = sorted(sample['data_samples'].gt_instances.labels.tolist())
    assert labels == sorted(CITYSCAPES_CLASSES.index(i['label'])
                            for i in records[0]['instances'])


def test_disparity_encoding_and_invalid_pixels(tree):
    root = tree['root']
    name = 'aachen_000000_000019'
    disp = cv2.imread(osp.join(root, 'disparity/train/aachen', name + '_disparity.png'),
                      cv2.IMREAD_UNCHANGED)
    labels = cv2.imread(osp.join(root, 'gtFine/train/aachen', name + '_gtFine_labelIds.png'),
                        cv2.IMREAD_UNCHANGED)
    assert disp.dtype == np.uint16 and disp.shape == (64, 128)
    assert (disp[labels == name2label['sky'].id] == 0).all()
    road = labels == name2label['road'].id
    assert 0 < (disp[road] == 0).sum() < 0.05 * road.sum()  # sparse stereo failures
    # road disparity grows with the distance below the horizon (depth shrinks)
    d = np.where(disp > 0, (disp.astype(np.float64) - 1) / 256, np.nan)
    road_d = np.where(road, d, np.nan)
    rows = [np.nanmedian(road_d[r]) for r in (40, 50, 63)]
    assert rows[0] < rows[1] < rows[2]
    cam = json.load(open(osp.join(root, 'camera/train/aachen', name + '_camera.json')))
    v0, fy, fx = (cam['intrinsic'][k] for k in ('v0', 'fy', 'fx'))
    expect = cam['extrinsic']['baseline'] * fx * (63 - v0) / (cam['extrinsic']['z'] * fy)
    assert rows[2] == pytest.approx(expect, abs=1 / 256)


def test_corrupt_or_empty_polygon_json_names_the_file(tree, tmp_path, capsys):
    root = str(tmp_path / 'copy')
    generate_synthetic_cityscapes(root, seed=3, **SMALL)
    bad = osp.join(root, 'gtFine/val/frankfurt/frankfurt_000001_000019_gtFine_polygons.json')
    open(bad, 'w').close()
    with pytest.raises(ValueError, match='empty.*frankfurt_000001_000019_gtFine_polygons'):
        convert_cityscapes(root, str(tmp_path / 'out'), splits=('val',))
    with open(bad, 'w') as f:
        f.write('{"imgHeight": 64,')
    with pytest.raises(ValueError, match='corrupt.*frankfurt_000001_000019_gtFine_polygons'):
        convert_cityscapes(root, str(tmp_path / 'out'), splits=('val',))
    cli = load_cli('tools/dataset_converters/cityscapes.py')
    assert cli.main([root, '--splits', 'val']) == 1
    err = capsys.readouterr().err  # also holds the (stderr) tqdm progress bars
    errors = [line for line in re.split(r'[\r\n]', err) if line.startswith('error:')]
    assert len(errors) == 1 and 'gtFine_polygons.json' in errors[0]
    assert 'Traceback' not in err


def test_missing_split_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='leftImg8bit/train'):
        convert_cityscapes(str(tmp_path), str(tmp_path / 'out'), splits=('train',))


def test_generator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='max_objects=1 cannot hold all 8 classes'):
        generate_synthetic_cityscapes(str(tmp_path), num_train=2, max_objects=1, min_objects=1)
    with pytest.raises(ValueError, match='at least 64x128'):
        generate_synthetic_cityscapes(str(tmp_path), height=32)


def test_clis_write_tree_and_annotations(tmp_path, capsys):
    root = str(tmp_path / 'cs')
    make = load_cli('tools/misc/make_synthetic_cityscapes.py')
    assert make.main([root, '--seed', '1', '--num-train', '2', '--num-val', '2',
                      '--height', '64', '--width', '128']) == 0
    assert 'train: 2 images' in capsys.readouterr().out
    convert = load_cli('tools/dataset_converters/cityscapes.py')
    assert convert.main([root, '-o', str(tmp_path / 'ann')]) == 0
    out = capsys.readouterr().out
    assert 'val: 2 images' in out
    with open(tmp_path / 'ann' / 'instancesonly_filtered_gtFine_val.json') as a, \
            open(osp.join(root, 'annotations', 'instancesonly_filtered_gtFine_val.json')) as b:
        assert json.load(a) == json.load(b)
    assert make.main([root, '--height', '10']) == 1
    assert 'at least 64x128' in capsys.readouterr().err
    # a rerun of one split replaces that split's file only, and says so
    train = (tmp_path / 'ann' / 'instancesonly_filtered_gtFine_train.json').read_bytes()
    (tmp_path / 'ann' / 'instancesonly_filtered_gtFine_val.json').write_text('{"earlier": 1}')
    assert convert.main([root, '-o', str(tmp_path / 'ann'), '--splits', 'val']) == 0
    out = capsys.readouterr().out
    assert out.startswith('val: 2 images') and out.rstrip().endswith(' (replaced)')
    assert 'train' not in out
    assert (tmp_path / 'ann' / 'instancesonly_filtered_gtFine_train.json').read_bytes() == train


def test_scene_domain_draws_its_classes_in_its_own_look(tree, tmp_path):
    """The COCO-like source domain: only its classes, its own building colour, larger objects,
    striped objects, a higher camera; ``building=None`` draws an open landscape; the default
    domain is the original look."""
    from procd_mm.datasets.preparation.scene_domain import COCO_LIKE, SceneDomain
    src = generate_synthetic_cityscapes(str(tmp_path / 'src'), seed=3, domain=COCO_LIKE,
                                        **SMALL)
    default = generate_synthetic_cityscapes(str(tmp_path / 'dst'), seed=3,
                                            domain=SceneDomain(), **SMALL)
    labels = {i['label'] for r in src['ground_truth']['train'] for i in r['instances']}
    assert labels == set(COCO_LIKE.classes) and 'rider' not in labels
    name = 'aachen/aachen_000000_000019'
    ids = cv2.imread(osp.join(src['root'], 'gtFine', 'train', f'{name}_gtFine_labelIds.png'),
                     cv2.IMREAD_UNCHANGED)
    img_rgb = cv2.imread(osp.join(src['root'], 'leftImg8bit', 'train',
                                  f'{name}_leftImg8bit.png'))[..., ::-1].astype(float)
    building = ids == name2label['building'].id
    assert building.any()  # streets lined with buildings, in the source's own colour
    red, _, blue = img_rgb[building].mean(0)
    assert blue > red + 10  # grey-blue, where the default's buildings are brown (red > blue)
    field = generate_synthetic_cityscapes(str(tmp_path / 'field'), seed=3,
                                          domain=SceneDomain(building=None), **SMALL)
    field_ids = cv2.imread(osp.join(field['root'], 'gtFine', 'train',
                                    f'{name}_gtFine_labelIds.png'), cv2.IMREAD_UNCHANGED)
    assert name2label['building'].id not in np.unique(field_ids)  # an open landscape
    cam = json.load(open(osp.join(src['root'], 'camera', 'train', f'{name}_camera.json')))
    assert cam['extrinsic']['z'] == COCO_LIKE.camera_height
    # objects at least 1.3x the default's smallest size (0.09 * 64 px, at least 8 px)
    heights = [i['bbox'][3] for r in src['ground_truth']['train'] for i in r['instances']]
    assert min(heights) >= 1.3 * 8 - 1
    # stripes: the object rows alternate between two brightness levels
    img = cv2.imread(osp.join(src['root'], 'leftImg8bit', 'train',
                              f'{name}_leftImg8bit.png')).astype(float)
    inst = cv2.imread(osp.join(src['root'], 'gtFine', 'train',
                               f'{name}_gtFine_instanceIds.png'), cv2.IMREAD_UNCHANGED)
    big = max(src['ground_truth']['train'][0]['instances'], key=lambda i: i['area'])
    x, y, w, h = big['bbox']
    obj = inst[y:y + h, x:x + w] >= 1000
    rows = [img[y + r, x:x + w][obj[r]].mean() for r in range(h) if obj[r].sum() > 2]
    assert max(rows) - min(rows) > 20
    # the default domain, given explicitly, gives the same bytes as no domain at all
    assert all_files(default['root']) == all_files(tree['root'])
    for rel in all_files(tree['root']):
        with open(osp.join(default['root'], rel), 'rb') as a, \
                open(osp.join(tree['root'], rel), 'rb') as b:
            assert a.read() == b.read(), rel


def test_scene_domain_rejects_bad_values():
    from procd_mm.datasets.preparation.scene_domain import SceneDomain
    with pytest.raises(ValueError, match='Cityscapes classes'):
        SceneDomain(classes=('dog', ))
    with pytest.raises(ValueError, match='scale >= 1'):
        SceneDomain(scale=0.5)

"""Fog synthesis: optical model, dark-channel light, guided filter, depth filling, CLI."""
import glob
import importlib.util
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest

from procd_mm.datasets.preparation.fog_synthesis import (
    SKY_DEPTH,
    atmospheric_light,
    disparity_to_depth,
    distance_along_ray,
    fill_invalid_depth,
    foggify,
    foggify_cityscapes,
    guided_filter,
    transmission,
)
from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
from tests.conftest import REPO

LIGHT = np.array([0.8, 0.82, 0.85])


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    return generate_synthetic_cityscapes(root, seed=5, num_train=2, num_val=2, height=64,
                                         width=128)['root']


def clear_image(h=48, w=64):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 120, (h, w, 3)).astype(np.uint8)
    img[:, w // 2:] = (40, 90, 30)
    return img


def load_cli():
    path = osp.join(REPO, 'tools', 'dataset_converters', 'foggify_cityscapes.py')
    spec = importlib.util.spec_from_file_location('foggify_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_distance_along_ray_and_transmission():
    depth = np.full((5, 7), 10.0)
    dist = distance_along_ray(depth, fx=4.0, u0=3.0, v0=2.0)
    assert dist[2, 3] == pytest.approx(10.0)  # principal point: distance = depth
    assert dist[0, 0] == pytest.approx(10.0 * np.sqrt(16 + 9 + 4) / 4)
    assert (dist >= depth).all()
    np.testing.assert_allclose(transmission(np.array([0.0, 50.0]), 0.02), [1.0, np.exp(-1.0)])


def test_far_pixels_become_atmospheric_light_near_ones_stay_clear():
    img = clear_image()
    far = foggify(img, np.full(img.shape[:2], 1e4), 0.02, light=LIGHT)
    np.testing.assert_allclose(far / 255.0, np.broadcast_to(LIGHT, img.shape), atol=1 / 255)
    near = foggify(img, np.full(img.shape[:2], 0.1), 0.02, light=LIGHT)
    assert np.abs(near.astype(int) - img.astype(int)).max() <= 1
    # a far region beside a near one (more than a filter window apart): L vs. clear
    img = clear_image(w=160)
    dist = np.full(img.shape[:2], 0.5)
    dist[:, 80:] = 1e4
    mixed = foggify(img, dist, 0.02, light=LIGHT).astype(float) / 255.0
    np.testing.assert_allclose(mixed[24, 155], LIGHT, atol=0.02)
    assert np.abs(mixed[24, 5] - img[24, 5] / 255.0).max() < 0.02


def test_fog_grows_monotonically_with_beta():
    img = clear_image()
    dist = np.tile(np.linspace(5.0, 300.0, img.shape[1]), (img.shape[0], 1))
    gaps = [np.abs(foggify(img, dist, beta, light=LIGHT) / 255.0 - LIGHT).sum(axis=2)
            for beta in (0.0, 0.005, 0.01, 0.02)]
    for thin, thick in zip(gaps, gaps[1:]):
        assert (thick <= thin + 3 / 255).all() and thick.mean() < thin.mean()


def test_atmospheric_light_is_median_of_brightest_dark_channel():
    img = np.full((100, 100, 3), 0.1)
    img[10:30, 10:30] = (0.9, 0.8, 0.7)  # bright haze patch larger than the 15x15 window
    np.testing.assert_allclose(atmospheric_light(img), (0.9, 0.8, 0.7))
    # 0.1 % of 100x100 = 10 candidates: the one of median intensity is chosen
    img = np.zeros((100, 100, 3))
    for k in range(10):
        img[5 + 9 * k:20 + 9 * k, 0:15] = 0.5 + 0.01 * k
    light = atmospheric_light(img, window=15)
    assert 0.5 < light[0] < 0.6 and light[0] == light[1] == light[2]


def test_guided_filter_smooths_but_keeps_guide_edges():
    guide = np.zeros((40, 40))
    guide[:, 20:] = 1.0
    out = guided_filter(guide, guide, window=9, eps=1e-6)
    np.testing.assert_allclose(out, guide, atol=1e-3)  # edge-preserving on its own guide
    colour = np.stack([guide, 1 - guide, 0.5 * guide], axis=-1)
    np.testing.assert_allclose(guided_filter(colour, np.full((40, 40), 0.3)), 0.3, atol=1e-9)
    noisy = 0.5 + np.random.default_rng(0).normal(0, 0.1, (40, 40))
    assert guided_filter(np.full((40, 40), 0.5), noisy, window=9).std() < 0.3 * noisy.std()


def test_invalid_disparity_gives_no_nan_and_no_black_holes():
    disp = np.zeros((30, 40), np.uint16)
    disp[10:] = np.round(np.linspace(1.0, 8.0, 20)[:, None] * 256 + 1).astype(np.uint16)
    disp[20:23, 15:18] = 0  # stereo failure inside the road
    disp[:, :3] = 0  # invalid left border, full height
    depth = disparity_to_depth(disp, baseline=0.2, fx=100.0)
    assert np.isnan(depth[0, 10]) and depth[29, 20] == pytest.approx(0.2 * 100.0 / 8.0)
    filled = fill_invalid_depth(depth)
    assert np.isfinite(filled).all()
    assert (filled[:10, 3:] == SKY_DEPTH).all()  # sky-like: above each column's first valid
    # a hole takes the depth of the nearest valid pixel around it
    assert filled[21, 16] in (depth[19, 16], depth[23, 16], depth[21, 14], depth[21, 18])
    assert filled[25, 0] == pytest.approx(depth[25, 3])
    assert (fill_invalid_depth(np.full((4, 4), np.nan)) == SKY_DEPTH).all()
    img = np.full((30, 40, 3), 100, np.uint8)
    foggy = foggify(img, distance_along_ray(filled, 100.0, 20.0, 15.0), 0.02)
    assert foggy.min() > 50  # no black holes where disparity was missing
    assert foggy[21, 16].tolist() == pytest.approx(foggy[21, 13].tolist(), abs=2)


def test_foggify_cityscapes_writes_official_names(tree, tmp_path, capsys):
    cli = load_cli()
    assert cli.main([tree, '--beta', '0.01', '--nproc', '2']) == 0
    assert 'val: 2 foggy images (beta=0.01)' in capsys.readouterr().out
    for split in ('train', 'val'):
        clear = sorted(glob.glob(osp.join(tree, 'leftImg8bit', split, '*', '*.png')))
        foggy = sorted(glob.glob(osp.join(tree, 'leftImg8bit_foggy', split, '*', '*.png')))
        assert len(foggy) == len(clear) == 2
        for c, f in zip(clear, foggy):
            assert re.fullmatch(r'[a-z]+_\d{6}_\d{6}_leftImg8bit_foggy_beta_0\.01\.png',
                                osp.basename(f))
            assert osp.basename(f).replace('_foggy_beta_0.01', '') == osp.basename(c)
            img, fog = cv2.imread(c), cv2.imread(f)
            assert fog.shape == img.shape and fog.dtype == np.uint8
            assert fog.std() < img.std()  # fog lowers contrast
    out = foggify_cityscapes(tree, 0.02, out_dir=str(tmp_path / 'fog'), splits=('val',))
    assert [osp.relpath(p, tmp_path / 'fog') for p in out['val']] == [
        f'val/frankfurt/frankfurt_00000{i}_000019_leftImg8bit_foggy_beta_0.02.png'
        for i in range(2)]


def test_cli_errors_are_one_line(tree, tmp_path, capsys):
    cli = load_cli()
    assert cli.main([tree, '--beta', '0.03']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'beta=0.03' in err and 'Traceback' not in err
    assert cli.main([str(tmp_path), '--splits', 'val']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and osp.join(str(tmp_path), 'leftImg8bit', 'val') in err


def test_a_missing_split_stops_before_anything_is_written(tree, tmp_path, capsys):
    """The default ``--splits train val`` on a tree without val writes no train image."""
    root = str(tmp_path / 'no_val')
    shutil.copytree(tree, root, ignore=shutil.ignore_patterns('leftImg8bit_foggy'))
    shutil.rmtree(osp.join(root, 'leftImg8bit', 'val'))
    cli = load_cli()
    assert cli.main([root, '--beta', '0.02']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and osp.join(root, 'leftImg8bit', 'val') in err
    assert not osp.exists(osp.join(root, 'leftImg8bit_foggy'))

"""The demo pipeline (``make demo``) end to end at a tiny size."""
import json
import os.path as osp

import cv2
import pytest

from demo.pipeline import DOMAINS, METHODS, DemoOptions, run_demo
from demo.plots import plot_loss_curves, read_scalars


def _png(path):
    assert osp.isfile(path) and osp.getsize(path) > 0, path
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    work = str(tmp_path_factory.mktemp('demo'))
    opts = DemoOptions(work_dir=work, seeds=(0, ), iters=4, teacher_iters=4, source_train=8,
                       target_train=8, num_val=4, num_pictures=1)
    summary = run_demo(opts)
    return work, opts, summary


def test_summary_is_well_formed(demo):
    work, opts, summary = demo
    with open(osp.join(work, 'summary.json')) as f:
        on_disk = json.load(f)
    assert on_disk == summary
    assert set(on_disk) == set(METHODS)
    for method in METHODS:
        assert set(on_disk[method]) == set(DOMAINS)
        for domain in DOMAINS:
            entry = on_disk[method][domain]
            assert set(entry) == {'seeds', 'mean'}
            assert set(entry['seeds']) == {'0'}
            assert all(0.0 <= v <= 100.0 for v in entry['seeds'].values())
            assert entry['mean'] == pytest.approx(sum(entry['seeds'].values()))
    # the per-class tables of every test run are on disk
    for method in METHODS:
        for domain in DOMAINS:
            table = osp.join(work, f'{method}_seed0', f'test_{domain}', f'ap50_{domain}.json')
            if osp.isfile(table):  # absent only when a 4-iteration student detects nothing
                assert set(json.load(open(table))['classes']) == {
                    'person', 'rider', 'motorcycle', 'bicycle'}


def test_pictures(demo):
    work, opts, _ = demo
    report = json.load(open(osp.join(work, 'report.json')))
    pics = report['pictures']
    assert len(pics['loss_curves']) == len(METHODS)
    for path in pics['loss_curves']:
        h, w = _png(path).shape[:2]
        assert h > 100 and w > 300
    # one clear and one foggy image; detections of two models side by side at 2x
    assert len(pics['detections']) == 2
    for path in pics['detections']:
        h, w = _png(path).shape[:2]
        assert h == 2 * opts.height + 18
        assert w == 2 * (2 * opts.width) + 6
    assert len(pics['prototypes']) == 2
    for path in pics['prototypes']:
        assert _png(path).shape[0] > 100
        assert osp.isfile(path[:-4] + '.npz')


def test_data_and_teacher_are_cached(demo, capsys):
    work, opts, _ = demo
    from demo.pipeline import prepare_data, teacher_checkpoint
    roots = prepare_data(opts)
    ckpt = teacher_checkpoint(opts, roots['source'])
    out = capsys.readouterr().out
    assert 'reusing the source data' in out and 'reusing the target data' in out
    assert 'reusing the teacher' in out and osp.isfile(ckpt)


def test_loss_curves_from_log(tmp_path):
    log = tmp_path / 'scalars.json'
    records = [dict(lr=0.1, loss=3.0 - i, loss_rpn_cls=1.0, **{'s0.loss_cls': 0.5},
                    loss_emb_cwd_p0=2.0, iter=i, step=i) for i in range(1, 4)]
    records.append({'coco/bbox_mAP': 0.1, 'step': 3})
    log.write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    series = read_scalars(str(log))
    assert set(series) == {'loss', 'loss_rpn_cls', 's0.loss_cls', 'loss_emb_cwd_p0'}
    assert [s for s, _ in series['loss']] == [1, 2, 3]
    out = plot_loss_curves(str(log), str(tmp_path / 'curves.png'), 'x')
    assert _png(out).shape[0] > 100

"""The demo pipeline (``make demo``) end to end at a tiny size, in its worker pool, and the
same jobs run one after another in this process."""
import dataclasses
import json
import os.path as osp
import shutil

import cv2
import pytest

from demo.jobs import Job, plan_jobs
from demo.options import DOMAINS, METHODS, DemoOptions, teacher_ckpt_path
from demo.pipeline import run_demo
from demo.plots import plot_loss_curves, read_scalars
from demo.pool import run_jobs
from procd_mm.datasets.preparation.cityscapes_to_coco import CITYSCAPES_CLASSES


def _png(path):
    assert osp.isfile(path) and osp.getsize(path) > 0, path
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    work = str(tmp_path_factory.mktemp('demo'))
    opts = DemoOptions(work_dir=work, seeds=(0, ), iters=4, teacher_iters=4, source_train=8,
                       source_val=4, target_train=8, num_val=4, num_pictures=1, workers=2)
    summary = run_demo(opts)
    return work, opts, summary


def test_summary_is_well_formed(demo):
    work, opts, summary = demo
    with open(osp.join(work, 'summary.json')) as f:
        on_disk = json.load(f)
    assert on_disk == summary
    assert set(on_disk) == set(METHODS) | {'diagnostics'}
    diag = on_disk['diagnostics']
    assert 0.0 <= diag['teacher']['source_map50'] <= 100.0
    assert diag['teacher']['iters'] == opts.teacher_iters and diag['teacher']['regime'] == 'paper'
    for model in ('teacher', 'random_teacher', 'student'):
        probe = diag['probe'][model]
        assert 0.0 <= probe['accuracy'] <= 100.0 and probe['val_boxes'] > 0
    assert set(diag['probe']['teacher_on_target']) == set(DOMAINS)
    assert all(0.0 <= v <= 100.0 for v in diag['probe']['teacher_on_target'].values())
    for method in METHODS:
        m = diag['methods'][method]
        assert m['grad_stu']['n'] == 1 and m['grad_stu']['mean'] > 0
        assert ('grad_emb_over_stu' in m) == (method != 'student')
        assert ('grad_pro_over_stu' in m) == (method == 'procd')
        assert 0.0 <= m['clipped']['mean'] <= 100.0 and m['clip_max_norm'] > 0
    for method in METHODS:
        assert set(on_disk[method]) == set(DOMAINS)
        for domain in DOMAINS:
            entry = on_disk[method][domain]
            assert {'seeds', 'mean', 'std', 'n', 'detections'} <= set(entry)
            assert set(entry['seeds']) == {'0'}
            assert all(0.0 <= v <= 100.0 for v in entry['seeds'].values())
            assert entry['mean'] == pytest.approx(sum(entry['seeds'].values()))
            assert entry['std'] is None  # one seed
            det = entry['detections']['seeds']['0']
            assert det['of'] == opts.num_val and 0 <= det['images'] <= det['of']
            assert 0.0 <= det['recall50'] <= 100.0
    for a, b in (('procd', 'student'), ('procd', 'cwd'), ('cwd', 'student')):
        for domain in DOMAINS:
            diff = on_disk[a][domain]['minus'][b]
            assert diff['seeds']['0'] == pytest.approx(
                on_disk[a][domain]['seeds']['0'] - on_disk[b][domain]['seeds']['0'])
    # prototype usage of the ProC-KD run, teacher and student P5, clear and foggy
    for domain in DOMAINS:
        usage = on_disk['procd'][domain]['prototypes']
        for path in ('teacher', 'student'):
            u = usage[path]['seeds']['0']
            assert u['n'] == 16 and 1 <= u['used'] <= 16
            assert sum(u['histogram']) == u['positions'] > 0
            assert 0.0 <= u['entropy_bits'] <= 4.0
        assert 'prototypes' not in on_disk['cwd'][domain]
    # the per-class tables of every test run are on disk
    for method in METHODS:
        for domain in DOMAINS:
            table = osp.join(work, f'{method}_seed0', f'test_{domain}', f'ap50_{domain}.json')
            if osp.isfile(table):  # absent only when a 4-iteration student detects nothing
                assert set(json.load(open(table))['classes']) == set(CITYSCAPES_CLASSES)


def test_pictures(demo):
    work, opts, _ = demo
    report = json.load(open(osp.join(work, 'report.json')))
    assert report['workers'] == 2
    pics = report['pictures']
    assert len(pics['loss_curves']) == len(METHODS)
    for path in pics['loss_curves']:
        h, w = _png(path).shape[:2]
        assert h > 100 and w > 300
    # one clear and one foggy image; ground truth, student, CWD and ProC-KD side by side at 2x
    assert len(pics['detections']) == 2
    for path in pics['detections']:
        h, w = _png(path).shape[:2]
        assert h == 2 * opts.height + 18
        assert w == 4 * (2 * opts.width) + 3 * 6
    assert len(pics['prototypes']) == 2
    for path in pics['prototypes']:
        assert _png(path).shape[0] > 100
        assert osp.isfile(path[:-4] + '.npz')
    assert len(pics['prototype_usage']) == 1
    assert _png(pics['prototype_usage'][0]).shape[1] > 600


def test_pool_matches_sequential(demo, tmp_path):
    """The jobs run in this process, one after another, give the pool's per-run results."""
    work, opts, summary = demo
    report = json.load(open(osp.join(work, 'report.json')))
    seq = dataclasses.replace(opts, work_dir=str(tmp_path / 'sequential'), workers=1)
    # the same data and teacher (both are prepared once per demo)
    shutil.copytree(osp.join(work, 'teacher'), osp.join(seq.work_dir, 'teacher'))
    assert osp.isfile(teacher_ckpt_path(seq))
    roots = {name: osp.join(work, 'data', name) + '/' for name in ('source', 'target')}
    jobs = [Job('student', m, 0) for m in ('student', 'procd')]
    done = run_jobs(jobs, seq, roots, workers=1)
    assert set(done) == {'student_seed0', 'procd_seed0'}
    for key, run in done.items():
        method = run['method']
        assert run['digest'] == report['digests'][key], key  # bitwise the same weights
        for domain in DOMAINS:
            assert run['map50'][domain] == summary[method][domain]['seeds']['0']
            assert run['detections'][domain] == summary[method][domain]['detections'][
                'seeds']['0']
    for domain in DOMAINS:
        for path in ('teacher', 'student'):
            assert done['procd_seed0']['prototypes'][domain][path] == \
                summary['procd'][domain]['prototypes'][path]['seeds']['0']


def test_data_teacher_and_students_are_cached(demo, capsys, tmp_path):
    """A second run with the same options reuses the data, the teacher and the student runs
    (no training); changed options train again."""
    work, opts, summary = demo
    from demo.data import prepare_data
    from demo.jobs import teacher_checkpoint
    roots = prepare_data(opts)
    ckpt = teacher_checkpoint(opts, roots['source'])
    out = capsys.readouterr().out
    assert 'reusing the source data' in out and 'reusing the target data' in out
    assert 'reusing the teacher' in out and osp.isfile(ckpt)
    mtime = osp.getmtime(ckpt)
    again = run_jobs([Job('student', m, 0) for m in METHODS], opts, roots, workers=1)
    assert all(r.get('cached') for r in again.values())
    for run in again.values():
        assert run['map50'] == {d: summary[run['method']][d]['seeds']['0'] for d in DOMAINS}
    assert osp.getmtime(ckpt) == mtime
    # another teacher budget, or another teacher regime setting: trained again
    other = dataclasses.replace(opts, work_dir=str(tmp_path / 'other'))
    shutil.copytree(osp.join(work, 'teacher'), osp.join(other.work_dir, 'teacher'))
    shutil.copytree(osp.join(work, 'data'), osp.join(other.work_dir, 'data'))
    assert teacher_checkpoint(other, roots['source']) == teacher_ckpt_path(other)
    assert 'reusing the teacher' in capsys.readouterr().out  # a copy is reused too
    longer = dataclasses.replace(other, teacher_iters=opts.teacher_iters + 1)
    teacher_checkpoint(longer, roots['source'])
    out = capsys.readouterr().out
    assert 'training the teacher' in out and osp.isfile(teacher_ckpt_path(longer))
    run = run_jobs([Job('student', 'cwd', 0)], dataclasses.replace(longer, iters=3), roots,
                   workers=1)['cwd_seed0']
    assert not run.get('cached') and run['train_seconds'] > 0


def test_an_rtmdet_student_under_the_same_teacher(demo, capsys):
    """``--student rtmdet``: the same data and cached teacher, the RTMDet runs, summary and
    pictures in their own folder; its prototype usage has the teacher's row alone (the
    student's level is 96 wide, the prototypes 64) and its probe reads the student's
    stride-32 level."""
    work, opts, _ = demo
    rtmdet = dataclasses.replace(opts, student='rtmdet')
    summary = run_demo(rtmdet)
    out = capsys.readouterr().out
    assert 'reusing the teacher' in out and 'training the teacher' not in out
    assert rtmdet.student_dir == osp.join(work, 'rtmdet')
    with open(osp.join(work, 'rtmdet', 'summary.json')) as f:
        assert json.load(f) == summary
    for method in METHODS:
        run = json.load(open(osp.join(work, 'rtmdet', f'{method}_seed0', 'demo_result.json')))
        assert run['result']['method'] == method
        assert all(0.0 <= summary[method][d]['seeds']['0'] <= 100.0 for d in DOMAINS)
    for domain in DOMAINS:
        assert set(summary['procd'][domain]['prototypes']) == {'teacher'}
    assert summary['diagnostics']['probe']['student']['val_boxes'] > 0
    report = json.load(open(osp.join(work, 'rtmdet', 'report.json')))
    assert all(p.startswith(osp.join(work, 'rtmdet', 'figures'))
               for p in report['pictures']['detections'] + report['pictures']['prototypes'])
    # the Cascade demo's own summary is untouched
    assert json.load(open(osp.join(work, 'summary.json')))['diagnostics'] != \
        summary['diagnostics']


def test_the_demo_trains_through_the_project_launch_path(demo, tmp_path):
    """A demo run goes through procd_mm.apis with the project's hooks (atomic checkpoints, the
    RNG state in every checkpoint) and gives, bit for bit, the weights of mmengine's own
    ``Runner.from_cfg`` with its ``CheckpointHook`` on the same config."""
    import torch
    from mmengine.runner import Runner

    import procd_mm  # noqa: F401
    from demo.configs import student_cfg
    from demo.jobs import train
    from demo.measures import state_digest
    work, opts, _ = demo
    target = osp.join(work, 'data', 'target') + '/'
    ours = student_cfg('procd', 0, dataclasses.replace(opts, work_dir=str(tmp_path / 'ours')),
                       target, teacher_ckpt_path(opts))
    assert ours.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert [h['type'] for h in ours.custom_hooks] == ['RNGStateHook']
    theirs = student_cfg('procd', 0, dataclasses.replace(opts, work_dir=str(tmp_path / 'plain')),
                         target, teacher_ckpt_path(opts))
    theirs.default_hooks.checkpoint.type = 'CheckpointHook'
    theirs.custom_hooks = []
    ckpt = train(ours)
    assert ckpt == osp.join(ours.work_dir, f'iter_{opts.iters}.pth')  # the runner's own record
    assert 'rng_state' in torch.load(ckpt, map_location='cpu', weights_only=True)
    Runner.from_cfg(theirs).train()
    plain = osp.join(theirs.work_dir, f'iter_{opts.iters}.pth')
    assert 'rng_state' not in torch.load(plain, map_location='cpu', weights_only=True)
    assert state_digest(ckpt) == state_digest(plain)


def test_plan_jobs():
    opts = DemoOptions(seeds=(3, 5))
    jobs = plan_jobs(opts, teacher_cached=False)
    keys = [j.key for j in jobs]
    assert keys == ['teacher'] + [f'{m}_seed{s}' for s in (3, 5) for m in METHODS] + [
        'probe_seed3', 'pictures_seed3']
    by_key = {j.key: j for j in jobs}
    assert by_key['student_seed5'].needs == ()  # starts while the teacher trains
    assert by_key['cwd_seed5'].needs == ('teacher', ) == by_key['procd_seed3'].needs
    assert set(by_key['pictures_seed3'].needs) == {f'{m}_seed3' for m in METHODS}
    assert set(by_key['probe_seed3'].needs) == {'teacher', 'student_seed3'}
    # longest first: the teacher, ProC-KD, CWD, student-only, then pictures
    assert by_key['teacher'].priority < by_key['procd_seed5'].priority \
        < by_key['cwd_seed3'].priority < by_key['student_seed3'].priority \
        < by_key['pictures_seed3'].priority
    cached = plan_jobs(opts, teacher_cached=True, pictures=False)
    assert [j.key for j in cached] == keys[1:-1]
    assert all(not j.needs for j in cached[:-1]) and cached[-1].needs == ('student_seed3', )
    only_student = plan_jobs(dataclasses.replace(opts, methods=('student', )), False)
    assert 'teacher' not in [j.key for j in only_student]


def test_unmet_needs_are_reported(tmp_path):
    opts = DemoOptions(work_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match='never ran'):
        run_jobs([Job('pictures', seed=0, needs=('procd_seed0', ))], opts, {}, workers=1)


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

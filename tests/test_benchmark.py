"""The benchmarks of tools/analysis/ at a tiny size: their JSON reports have every field."""
import json

import pytest

from tests.conftest import run_tool

STEP_FIELDS = {'time_s', 'peak_mem_bytes', 'time_vs_floor', 'mem_vs_floor'}


def test_benchmark_tiny(tmp_path):
    out = tmp_path / 'bench.json'
    res = run_tool('tools/analysis/benchmark_distill.py', '--height', '64', '--width', '128',
                   '--rounds', '1', '--pl-shape', '2', '64', '8', '16', '8', '--out', str(out),
                   timeout=900)
    assert 'ProC-KD / CWD' in res.stdout
    report = json.loads(out.read_text())
    assert set(report) == {'setup', 'step', 'procd_vs_cwd', 'prototype_learning', 'teacher',
                           'raw'}
    assert set(report['step']) == {'student', 'floor', 'cwd', 'procd'}
    for name, entry in report['step'].items():
        assert set(entry) == STEP_FIELDS, name
        assert entry['time_s'] > 0 and entry['peak_mem_bytes'] is not None
    assert report['step']['floor']['time_vs_floor'] == 1.0
    ratio = report['procd_vs_cwd']
    assert set(ratio) == {'time', 'memory', 'target', 'time_ok', 'memory_ok', 'path_rows'}
    assert ratio['time'] > 0 and isinstance(ratio['time_ok'], bool)
    shares = ratio['path_rows']['level_share_per_stage']
    assert len(shares) == 3 and all(0 < share < 1 for share in shares)
    pl = report['prototype_learning']
    assert pl['shape'] == dict(B=2, D=64, H=8, W=16, n=8)
    for form in ('matmul', 'naive'):
        assert pl[form]['time_s'] > 0 and pl[form]['peak_mem_bytes'] is not None
    assert pl['max_abs_diff'] < 1e-3
    assert {'naive_vs_matmul_time', 'naive_vs_matmul_mem'} <= set(pl)
    t = report['teacher']
    for kind in ('full_forward', 'extract_feat'):
        assert t[kind]['time_s'] > 0 and t[kind]['peak_mem_bytes'] is not None
    assert {'full_vs_extract_time', 'full_vs_extract_mem'} <= set(t)
    assert report['setup']['memory'] and report['setup']['feature_shapes']
    assert (tmp_path / 'bench.md').read_text().startswith('device')


def test_benchmark_tiny_rtmdet(tmp_path):
    """``--student rtmdet``: the same report for the one-stage student, the path's level
    priors counted (and positive ones among them, so that the measured path scores some)."""
    out = tmp_path / 'bench.json'
    res = run_tool('tools/analysis/benchmark_distill.py', '--student', 'rtmdet', '--height',
                   '128', '--width', '256', '--rounds', '1', '--pl-shape', '2', '64', '8', '16',
                   '8', '--out', str(out), timeout=900)
    assert 'rtmdet student' in res.stdout
    report = json.loads(out.read_text())
    assert report['setup']['student'] == 'rtmdet'
    assert report['step']['floor']['time_vs_floor'] == 1.0
    assert all(entry['time_s'] > 0 for entry in report['step'].values())
    rows = report['procd_vs_cwd']['path_rows']
    assert rows['level_priors'] == 2 * (128 // 32) * (256 // 32)  # batch 2, stride 32
    assert 0 < rows['level_positives'] <= rows['level_priors']


@pytest.mark.slow  # ~2-4 min: spawns a worker pool and trains 6 students
def test_demo_pool_benchmark_tiny(tmp_path):
    """The pool benchmark runs both modes on the same jobs and trains the same students."""
    work = tmp_path / 'pool'
    res = run_tool('tools/analysis/benchmark_demo_pool.py', '--work-dir', str(work),
                   '--seeds', '0', '--iters', '2', '--teacher-iters', '2',
                   '--source-train', '4', '--source-val', '2', '--target-train', '4',
                   '--num-val', '2',
                   timeout=900)
    report = json.loads((work / 'pool_benchmark.json').read_text())
    assert '"throughput_ratio"' in res.stdout
    assert report['jobs'] == ['student_seed0', 'cwd_seed0', 'procd_seed0']
    assert report['pool_workers'] >= 1 and report['rounds'] == 1
    assert set(report['wall_seconds']) == {'sequential', 'pool'}
    assert all(len(w) == 1 and w[0] > 0 for w in report['wall_seconds'].values())
    walls = report['wall_seconds']  # rounded to 0.1 s; the ratio is of the unrounded walls
    assert report['throughput_ratio'] == pytest.approx(
        walls['sequential'][0] / walls['pool'][0], abs=0.02)
    assert report['same_students'] is True

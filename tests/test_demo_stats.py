"""The demo's statistics: per-seed values, mean, standard deviation, paired differences and
prototype usage, checked against values computed by hand and by the standard library."""
import math
import statistics

import numpy as np
import pytest

from demo.stats import (
    PAIRS,
    describe,
    entropy_bits,
    holds_in_every_seed,
    paired,
    paired_table,
    prototype_usage,
    results_table,
    summarize,
    t95,
    usage_summary,
)

RESULTS = {
    'student': {'clear': {0: 40.0, 1: 50.0, 2: 45.0, 3: 55.0},
                'foggy': {0: 20.0, 1: 10.0, 2: 15.0, 3: 25.0}},
    'cwd': {'clear': {0: 48.0, 1: 52.0, 2: 50.0, 3: 54.0},
            'foggy': {0: 18.0, 1: 16.0, 2: 14.0, 3: 30.0}},
    'procd': {'clear': {0: 50.0, 1: 55.0, 2: 49.0, 3: 60.0},
              'foggy': {0: 21.0, 1: 12.0, 2: 19.0, 3: 24.0}},
}


def test_describe_matches_statistics():
    values = [40.0, 50.0, 45.0, 55.0]
    d = describe(values)
    assert d['n'] == 4
    assert d['mean'] == pytest.approx(statistics.mean(values))
    assert d['std'] == pytest.approx(statistics.stdev(values))  # sample std, n - 1
    assert (d['min'], d['max']) == (40.0, 55.0)
    assert describe([3.0]) == dict(n=1, mean=3.0, std=None, min=3.0, max=3.0)
    assert describe([])['mean'] is None


def test_summary_statistics_from_per_seed_values():
    summary = summarize(RESULTS)
    assert list(summary) == ['student', 'cwd', 'procd']
    for method, per_domain in RESULTS.items():
        for domain, per_seed in per_domain.items():
            entry = summary[method][domain]
            values = [per_seed[s] for s in sorted(per_seed)]
            assert entry['seeds'] == {str(s): per_seed[s] for s in sorted(per_seed)}
            assert entry['mean'] == pytest.approx(statistics.mean(values))
            assert entry['std'] == pytest.approx(statistics.stdev(values))
            assert entry['n'] == 4
    # paired differences: a − b seed by seed, then their own statistics
    for a, b in PAIRS:
        for domain in ('clear', 'foggy'):
            diff = summary[a][domain]['minus'][b]
            expect = [RESULTS[a][domain][s] - RESULTS[b][domain][s] for s in range(4)]
            assert list(diff['seeds'].values()) == pytest.approx(expect)
            assert diff['mean'] == pytest.approx(statistics.mean(expect))
            assert diff['std'] == pytest.approx(statistics.stdev(expect))
            assert diff['positive'] == sum(d > 0 for d in expect)
            assert diff['negative'] == sum(d < 0 for d in expect)
            half = 3.182 * statistics.stdev(expect) / 2  # t(0.975, 3) * s / sqrt(4)
            assert diff['ci95'] == pytest.approx([statistics.mean(expect) - half,
                                                  statistics.mean(expect) + half])
    # the mean of the paired differences is the difference of the means
    assert summary['procd']['clear']['minus']['cwd']['mean'] == pytest.approx(
        summary['procd']['clear']['mean'] - summary['cwd']['clear']['mean'])
    # only 'a' carries 'a − b'
    assert 'minus' not in summary['student']['clear']
    assert set(summary['procd']['clear']['minus']) == {'student', 'cwd'}


def test_hand_computed_example():
    s = summarize(RESULTS)
    d = s['procd']['clear']['minus']['student']  # 10, 5, 4, 5
    assert list(d['seeds'].values()) == [10.0, 5.0, 4.0, 5.0]
    assert d['mean'] == 6.0
    assert d['std'] == pytest.approx(math.sqrt((16 + 1 + 4 + 1) / 3))
    assert (d['positive'], d['negative']) == (4, 0)
    f = s['procd']['foggy']['minus']['cwd']  # 3, -4, 5, -6
    assert (f['positive'], f['negative'], f['mean']) == (2, 2, -0.5)
    # ProC-KD − CWD clear is 2, 3, -1, 6 and CWD − Student clear 8, 2, 5, -1: not in every seed
    assert holds_in_every_seed(s) == ['ProC-KD > Student on clear in all 4 seeds']


def test_seeds_missing_in_one_method_are_not_paired():
    d = paired({'0': 5.0, '1': 7.0, '2': 1.0}, {'0': 4.0, '2': 3.0})
    assert d['seeds'] == {'0': 1.0, '2': -2.0} and d['n'] == 2


def test_t_quantiles():
    assert t95(1) == 12.706 and t95(3) == 3.182 and t95(1000) == 1.96
    scipy_stats = pytest.importorskip('scipy.stats')
    for dof in (1, 2, 3, 5, 10, 30):
        assert t95(dof) == pytest.approx(scipy_stats.t.ppf(0.975, dof), abs=1e-3)


def test_prototype_usage():
    n = 4
    # image 1: 6 positions, prototypes 0,0,0,1,1,2; image 2: 2 positions, both prototype 0
    args = [np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0])]
    assigns = []
    for arg in args:
        a = np.full((n, len(arg)), 0.1 / (n - 1))
        a[arg, np.arange(len(arg))] = 0.9
        assigns.append(a.reshape(n, 1, -1))
    u = prototype_usage(assigns)
    assert u['n'] == 4 and u['used'] == 3 and u['positions'] == 8
    assert u['histogram'] == [5, 2, 1, 0]
    p = np.array([5, 2, 1]) / 8
    assert u['entropy_bits'] == pytest.approx(-(p * np.log2(p)).sum())
    assert u['effective'] == pytest.approx(2 ** u['entropy_bits'])
    assert u['used_per_image'] == pytest.approx((3 + 1) / 2)
    q = np.array([0.9] + [0.1 / 3] * 3)
    assert u['soft_entropy_bits'] == pytest.approx(-(q * np.log2(q)).sum())
    assert u['max_bits'] == 2.0
    assert entropy_bits([1, 1, 1, 1]) == pytest.approx(2.0) and entropy_bits([7, 0]) == 0.0
    s = usage_summary({1: u, 0: dict(u, used=1)})
    assert list(s['seeds']) == ['0', '1'] and s['used']['mean'] == 2.0 and s['n'] == 4


def test_results_table_rows():
    table = results_table(summarize(RESULTS), beta=0.005)
    lines = table.strip().splitlines()
    assert lines[0].startswith('| mAP50 (%) | clear, seeds 0,1,2,3 |')
    assert '| Student | 40.0, 50.0, 45.0, 55.0 | 47.5 ± 6.5 | 20.0, 10.0, 15.0, 25.0 |' \
        in table
    assert '| ProC-KD − Student | +10.0, +5.0, +4.0, +5.0 | +6.0 ± 2.7 (4/4 > 0) |' in table
    assert len(lines) == 2 + 3 + 3


def test_study_statistics_hand_computed_eight_seeds():
    """Paired mean, Student's t interval (7 degrees of freedom) and sign count over 8 seeds."""
    a = {str(s): 50.0 + d for s, d in enumerate([2, -1, 3, 0, 4, 1, -2, 1])}
    b = {str(s): 50.0 for s in range(8)}
    d = paired(a, b)
    # mean 1; squared deviations 1+4+4+1+9+0+9+0 = 28, s² = 28/7 = 4, s = 2
    assert d['mean'] == pytest.approx(1.0) and d['std'] == pytest.approx(2.0)
    half = 2.365 * 2.0 / math.sqrt(8)  # t(0.975, 7) · s / √n = 1.672
    assert d['ci95'] == pytest.approx([1.0 - half, 1.0 + half])
    assert (d['positive'], d['negative'], d['n']) == (5, 2, 8)  # one seed ties
    s = summarize({'procd': {'clear': a, 'foggy': a}, 'student': {'clear': b, 'foggy': b}})
    rows = {r.split('|')[1].strip(): r for r in paired_table(s).splitlines()[2:]}
    assert '| +1.0 [-0.7, +2.7] | 5/8 |' in rows['ProC-KD − Student']
    assert '| 50.0 ± 0.0 |' in rows['Student']


def test_the_transfer_rule_on_the_teacher_alone():
    from demo.stats import diagnostics_table, teacher_transfers
    teacher = dict(source_map50=90.0, iters=2000, source_train=2400)
    assert teacher_transfers(teacher, dict(teacher_on_target=dict(clear=45.0, foggy=1.0)))
    assert not teacher_transfers(teacher, dict(teacher_on_target=dict(clear=44.9, foggy=80.)))
    assert teacher_transfers(teacher, None) is None and teacher_transfers(None, {}) is None
    probe = dict(teacher_on_target=dict(clear=4.1, foggy=1.5), student_seed=0,
                 **{k: dict(accuracy=50.0, balanced_accuracy=50.0)
                    for k in ('teacher', 'random_teacher', 'student')})
    text = diagnostics_table(dict(diagnostics=dict(teacher=teacher, probe=probe)))
    assert '4.1 mAP50 clear, 1.5 foggy; the transfer rule (clear at least 50% of its source ' \
           'mAP50) is not met' in text

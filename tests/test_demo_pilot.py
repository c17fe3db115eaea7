"""The rule that picks the demo's budget from student-only pilot runs."""
import pytest

from demo.options import DemoOptions
from demo.pilot import choose, estimate_demo_seconds


def _cand(iters, images, clear, foggy, seconds):
    stats = {'clear': dict(mean=clear)}
    stats.update({f'foggy_{b:g}': dict(mean=m) for b, m in foggy.items()})
    return dict(iters=iters, target_train=images, stats=stats, estimated_demo_seconds=seconds)


def test_choose_takes_the_best_student_that_fits_and_the_heaviest_useful_fog():
    betas = (0.005, 0.01, 0.02)
    report = dict(candidates={
        '150:24': _cand(150, 24, 46.1, {0.005: 29.2, 0.01: 12.4, 0.02: 3.5}, 700),
        '200:240': _cand(200, 240, 73.7, {0.005: 58.2, 0.01: 34.7, 0.02: 12.6}, 999),
        '150:240': _cand(150, 240, 59.2, {0.005: 27.5, 0.01: 12.9, 0.02: 4.1}, 780),
    })
    assert choose(report, betas, 900, 20) == dict(candidate='150:240', iters=150,
                                                  target_train=240, beta=0.005)
    # a larger budget admits 200:240, whose student keeps >= 20 mAP50 up to beta 0.01
    assert choose(report, betas, 1000, 20)['beta'] == 0.01
    # no level keeps the floor: the lightest
    assert choose(report, betas, 900, 90)['beta'] == 0.005
    with pytest.raises(ValueError, match='no candidate fits'):
        choose(report, betas, 100, 20)


def test_estimate_is_work_over_workers_plus_the_tail():
    opts = DemoOptions(iters=100, seeds=(0, 1), workers=2)
    per_iter = dict(student=1.0, cwd=2.0, procd=3.0)
    # runs: 100+10, 200+10, 300+10; work = 50 + 2 * 630; tail = 310 / 2
    assert estimate_demo_seconds(opts, per_iter, 10.0, 50.0, overhead_s=0) == \
        pytest.approx((50 + 2 * 630) / 2 + 155)

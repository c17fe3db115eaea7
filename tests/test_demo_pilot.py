"""The rules that set the demo's regime from student-only runs and gradients at iteration 0
(demo/pilot.py), and the gradient diagnostics they read (demo/gradients.py)."""
import json

import pytest

from demo.gradients import clipped_fraction, loss_term
from demo.pilot import LADDER, choose_beta, choose_budget, choose_clip, choose_cwd_weight


def test_budget_is_the_smallest_whose_doubling_adds_little():
    means = {(100, 1e-3): 43.0, (200, 1e-3): 60.0, (400, 1e-3): 61.5}
    assert choose_budget(means, converged=2.0) == (200, 1e-3)  # +17 for 100, +1.5 for 200
    # another learning rate that converges at the same budget with a higher mAP50 wins;
    # one that converges at a smaller budget wins whatever its mAP50
    assert choose_budget({**means, (200, 2e-3): 70.0, (400, 2e-3): 71.0}, 2.0) == \
        (200, 2e-3)
    assert choose_budget({**means, (100, 2e-3): 50.0, (200, 2e-3): 51.0}, 2.0) == \
        (100, 2e-3)
    with pytest.raises(ValueError, match='no budget converged'):
        choose_budget({(100, 1e-3): 43.0, (200, 1e-3): 60.0, (400, 1e-3): 70.0}, 2.0)


def test_fog_is_the_heaviest_that_keeps_the_floor():
    assert choose_beta({0.005: 40.0, 0.01: 21.0, 0.02: 5.0}, 20.0) == 0.01
    assert choose_beta({0.005: 10.0, 0.01: 5.0}, 20.0) == 0.005  # none: the lightest


def test_clip_is_the_ladder_value_above_the_95th_percentile():
    norms = [float(i) for i in range(1, 101)]  # 95th percentile: 95
    assert choose_clip(norms) == 100.0
    assert choose_clip([3.0] * 19 + [400.0]) == 5.0  # one outlier in 20 steps is clipped
    assert choose_clip([0.01, 0.02]) == LADDER[0]


def test_cwd_weight_keeps_the_feature_gradient_at_most_the_detection_gradient():
    assert choose_cwd_weight(3.5) == 0.2  # 0.2 * 3.5 = 0.7 <= 1 < 0.5 * 3.5
    assert choose_cwd_weight(1.0) == 1.0
    assert choose_cwd_weight(0.001) == LADDER[-1]
    with pytest.raises(ValueError, match='dominates'):
        choose_cwd_weight(100.0)


def test_loss_terms_and_clipped_fraction(tmp_path):
    assert [loss_term(k) for k in ('loss_rpn_cls', 's1.loss_bbox', 'loss_emb_cwd_p3',
                                   'loss_procls_teacher', 'loss_con', 's0.acc')] == \
        ['stu', 'stu', 'emb', 'pro', 'pro', None]
    log = tmp_path / 'scalars.json'
    log.write_text('\n'.join(json.dumps(dict(loss=1.0, grad_norm=g, step=i))
                             for i, g in enumerate([1.0, 12.0, 9.0, 30.0])) + '\n')
    c = clipped_fraction(str(log), 10.0)
    assert (c['clipped'], c['steps'], c['max'], c['median']) == (0.5, 4, 30.0, 12.0)
    (tmp_path / 'none.json').write_text(json.dumps(dict(loss=1.0)) + '\n')
    with pytest.raises(ValueError, match='no grad_norm'):
        clipped_fraction(str(tmp_path / 'none.json'), 10.0)


def test_gradient_norms_of_the_loss_terms_on_the_real_distiller(synthetic_root):
    """On the paper-regime configs (Cascade Mask R-CNN, Swin, CWD on every FPN level, the
    prototype path): L_emb's gradient scales with the CWD weight, L_stu's does not, and the
    student alone has only L_stu."""
    from mmengine.config import Config

    from demo.gradients import gradient_norms
    from tests.conftest import REPO
    norms = {}
    for weight in (1.0, 2.0):
        cfg = Config.fromfile(f'{REPO}/configs/synthetic/procd-paper_tiny.py')
        cfg.train_dataloader.dataset.data_root = synthetic_root + '/'
        cfg.model.teacher_ckpt, cfg.model.teacher_strict = None, False
        cfg.model.emb_loss.loss_weights = weight
        norms[weight] = gradient_norms(cfg, seed=0)
    one, two = norms[1.0], norms[2.0]
    assert set(one) == {'stu', 'emb', 'pro', 'total', 'emb_over_stu', 'pro_over_stu'}
    assert one['stu'] > 0 and one['emb'] > 0 and one['pro'] > 0
    assert two['stu'] == pytest.approx(one['stu'], rel=1e-6)
    assert two['emb'] == pytest.approx(2 * one['emb'], rel=1e-5)
    assert two['emb_over_stu'] == pytest.approx(2 * one['emb_over_stu'], rel=1e-5)
    assert one['total'] <= one['stu'] + one['emb'] + one['pro'] + 1e-6
    cfg = Config.fromfile(f'{REPO}/configs/synthetic/student-paper_tiny.py')
    cfg.train_dataloader.dataset.data_root = synthetic_root + '/'
    alone = gradient_norms(cfg, seed=0)
    assert set(alone) == {'stu', 'total'} and alone['total'] == pytest.approx(alone['stu'])

"""How the demo's regime was set (``python -m demo.pilot``): from the student trained alone
and from gradients at iteration 0, never from a distilled student's mAP.

1. **Budget.** For each candidate iteration budget and learning rate the student alone is
   trained (seeds ``--seeds``), validated on the clear target val split at 4 points of its
   run (its learning curve) and tested at the end. A budget has converged when doubling it
   adds less than ``--converged`` points of mean clear mAP50; the choice is the smallest
   converged budget over the learning rates (the cheapest converged student; a tie goes to
   the higher mAP50).
2. **Fog.** The heaviest ``β`` at which that student keeps a mean foggy mAP50 of at least
   ``--min-foggy`` (room to fall and to rise).
3. **Clipping.** ``max_norm`` is the smallest value of :data:`LADDER` at or above the 95th
   percentile of the gradient norms of those student-only runs: clipping guards against
   outlier steps and leaves at most 5 % of the student's own steps changed.
4. **CWD weight.** With the CWD weight set to 1, the ratio of the gradient norms of
   ``L_emb`` and ``L_stu`` on the student's parameters at iteration 0 is measured
   (seeds ``--grad-seeds``; CWD is linear in its weight); the weight is the largest value
   of :data:`LADDER` at which the mean ratio is at most 1, so that the feature term does
   not dominate the detection gradient at the start. CWD and ProC-KD use the same weight.

Results and choices go to ``<work dir>/pilot.json`` (kept as ``docs/demo_pilot.json``).
"""
import argparse
import dataclasses
import glob
import math
import multiprocessing
import os.path as osp
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, Sequence, Tuple

from .configs import student_cfg, test_cfg
from .data import prepare_data
from .files import read_json, read_records, write_json
from .gradients import gradient_norms
from .jobs import evaluate, teacher_checkpoint, train
from .measures import latest_scalars, map50
from .options import DemoOptions
from .pool import init_worker
from .stats import describe

#: Values the clipping norm and the CWD weight are chosen from.
LADDER = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
CURVE_POINTS = 4


def curve_run(opts: DemoOptions, seed: int, roots: Dict[str, str], betas: Sequence[float]):
    """Train the student alone with validation at :data:`CURVE_POINTS` points; return its
    learning curve (iteration, clear val mAP50), its gradient norms and its final clear and
    foggy mAP50."""
    cfg = student_cfg('student', seed, opts, roots['target'], '')
    val = test_cfg('', 'clear', opts, roots['target'], osp.join(cfg.work_dir, 'val'), 'student')
    cfg.val_dataloader, cfg.val_evaluator = val.test_dataloader, val.test_evaluator
    cfg.val_cfg = dict(type='ValLoop')
    cfg.train_cfg.val_interval = max(1, opts.iters // CURVE_POINTS)
    ckpt = train(cfg)
    records = read_records(latest_scalars(cfg.work_dir))
    vals = [map50(r) for r in records if any(k.endswith('bbox_mAP50_paper') for k in r)]
    curve = [[(i + 1) * cfg.train_cfg.val_interval, v] for i, v in enumerate(vals)]
    out = dict(curve=curve, grad_norms=[r['grad_norm'] for r in records if 'grad_norm' in r])
    for beta in betas:
        fopts = dataclasses.replace(opts, beta=beta)
        tdir = osp.join(cfg.work_dir, f'test_foggy_{beta:g}')
        out[f'foggy_{beta:g}'] = map50(evaluate(test_cfg(ckpt, 'foggy', fopts, roots['target'],
                                                         tdir, 'student')))
    out['clear'] = curve[-1][1]
    return out


def choose_budget(means: Dict[Tuple[int, float], float], converged: float) -> Tuple[int, float]:
    """``(iterations, lr)``: the smallest budget whose doubling at the same learning rate
    (also measured) adds less than ``converged`` points of mean mAP50, the higher mAP50
    among equal budgets; ``means`` maps ``(iterations, lr)`` to the mean mAP50."""
    done = [(iters, lr) for iters, lr in means if (2 * iters, lr) in means
            and means[(2 * iters, lr)] - means[(iters, lr)] < converged]
    if not done:
        raise ValueError(f'no budget converged: {means} (doubling adds >= {converged} points)')
    return min(done, key=lambda c: (c[0], -means[c]))


def choose_beta(foggy: Dict[float, float], min_foggy: float) -> float:
    """The heaviest fog whose mean foggy mAP50 is ``>= min_foggy`` (else the lightest)."""
    heavy = [b for b in sorted(foggy) if foggy[b] >= min_foggy]
    return heavy[-1] if heavy else min(foggy)


def choose_clip(grad_norms: Sequence[float]) -> float:
    """The smallest :data:`LADDER` value at or above the 95th percentile of ``grad_norms``."""
    ordered = sorted(grad_norms)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return next(v for v in LADDER if v >= p95)


def choose_cwd_weight(ratio_at_unit_weight: float) -> float:
    """The largest :data:`LADDER` weight ``w`` with ``w · ratio <= 1``."""
    fitting = [w for w in LADDER if w * ratio_at_unit_weight <= 1.0]
    if not fitting:
        raise ValueError(f'L_emb dominates even at weight {LADDER[0]}: ratio '
                         f'{ratio_at_unit_weight:.3g} at weight 1')
    return fitting[-1]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/pilot')
    p.add_argument('--candidates', default='100:0.001,200:0.001,400:0.001,200:0.002,400:0.002',
                   help='ITERS:LR of the student alone, comma separated')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--seeds', default='0,1')
    p.add_argument('--grad-seeds', default='0,1,2,3')
    p.add_argument('--betas', default='0.005,0.01,0.02')
    p.add_argument('--converged', type=float, default=2.0)
    p.add_argument('--min-foggy', type=float, default=20.0)
    p.add_argument('--skip-gradients', action='store_true',
                   help='only the student-only runs (no teacher needed)')
    a = p.parse_args(argv)
    import torch

    from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
    torch.set_num_threads(1)
    seeds = [int(s) for s in a.seeds.split(',')]
    betas = [float(b) for b in a.betas.split(',')]
    base = DemoOptions(work_dir=a.work_dir)
    roots = prepare_data(base)
    for beta in betas:  # the foggy val split at every fog level tried
        if not glob.glob(osp.join(roots['target'], 'leftImg8bit_foggy', 'val', '*',
                                  f'*_beta_{beta:g}.png')):
            foggify_cityscapes(roots['target'], beta=beta, splits=('val', ))
    pilot_file = osp.join(a.work_dir, 'pilot.json')
    # what an earlier call measured is kept, not measured again
    report = read_json(pilot_file) if osp.isfile(pilot_file) else dict(budgets={})
    report['argv'] = vars(a)
    todo = []
    for cand in a.candidates.split(','):
        iters, lr = int(cand.split(':')[0]), float(cand.split(':')[1])
        entry = report['budgets'].setdefault(cand, dict(iters=iters, lr=lr, seeds={}))
        opts = dataclasses.replace(base, iters=iters, extra=dict(
            student={'optim_wrapper.optimizer.lr': lr}),
            work_dir=osp.join(a.work_dir, f'student_it{iters}_lr{lr:g}'))
        todo += [(cand, seed, opts) for seed in seeds if str(seed) not in entry['seeds']]
    with ProcessPoolExecutor(a.workers, mp_context=multiprocessing.get_context('spawn'),
                             initializer=init_worker, initargs=(1, )) as pool:
        futures = {pool.submit(curve_run, opts, seed, roots, betas): (cand, seed)
                   for cand, seed, opts in todo}
        for future in as_completed(futures):
            cand, seed = futures[future]
            report['budgets'][cand]['seeds'][str(seed)] = future.result()
            write_json(pilot_file, report)
    keys = ['clear'] + [f'foggy_{b:g}' for b in betas]
    for entry in report['budgets'].values():
        entry['stats'] = {k: describe([s[k] for s in entry['seeds'].values()]) for k in keys}
    means = {(e['iters'], e['lr']): e['stats']['clear']['mean']
             for e in report['budgets'].values()}
    iters, lr = choose_budget(means, a.converged)
    chosen = dict(iters=iters, lr=lr)
    stats = report['budgets'][f'{iters}:{lr:g}']['stats']
    chosen['beta'] = choose_beta({b: stats[f'foggy_{b:g}']['mean'] for b in betas},
                                 a.min_foggy)
    chosen['clip_max_norm'] = choose_clip(
        [g for s in report['budgets'][f'{iters}:{lr:g}']['seeds'].values()
         for g in s['grad_norms']])
    if not a.skip_gradients:
        opts = dataclasses.replace(base, iters=iters, extra=dict(
            cwd={'model.emb_loss.loss_weights': 1.0, 'model.lambda_pro': 0.0,
                 'optim_wrapper.optimizer.lr': lr},
            procd={'model.emb_loss.loss_weights': 1.0, 'optim_wrapper.optimizer.lr': lr}))
        ckpt = teacher_checkpoint(opts, roots['source'])
        grads = report.setdefault('gradients_at_unit_weight', {})
        for method in ('cwd', 'procd'):
            for seed in (int(s) for s in a.grad_seeds.split(',')):
                cfg = student_cfg(method, seed, opts, roots['target'], ckpt)
                cfg.merge_from_dict(opts.extra[method])
                grads.setdefault(method, {})[str(seed)] = gradient_norms(cfg, seed)
        ratio = describe([g['emb_over_stu'] for g in grads['cwd'].values()])
        chosen['cwd_loss_weight'] = choose_cwd_weight(ratio['mean'])
        report['emb_over_stu_at_unit_weight'] = ratio
    report['chosen'] = chosen
    write_json(pilot_file, report)
    print(format_pilot(report, betas))
    print(f'chosen: {chosen}')
    return report


def format_pilot(report: dict, betas) -> str:
    """The pilot's Markdown table: per budget and learning rate, the student alone's
    learning curve (clear val mAP50 at 4 points, mean over seeds), its final clear mAP50
    per seed, mean ± std, the gain of doubling it, and its mean foggy mAP50 per fog level."""
    lines = ['| iterations | lr | learning curve (mean) | clear mAP50 per seed | mean ± std '
             '| gain of doubling | ' + ' | '.join(f'foggy β={b:g} mean' for b in betas) + ' |',
             '|---' * (6 + len(betas)) + '|']
    entries = {(e['iters'], e['lr']): e for e in report['budgets'].values()}
    for iters, lr in sorted(entries, key=lambda c: (c[1], c[0])):
        e = entries[(iters, lr)]
        s = e['stats']
        curves = [v['curve'] for v in e['seeds'].values()]
        curve = ', '.join(f'{c[0][0]}: {sum(x[i][1] for x in curves) / len(curves):.1f}'
                          for i, c in enumerate(zip(*curves)))
        per_seed = ', '.join(f'{v["clear"]:.1f}' for v in e['seeds'].values())
        double = entries.get((2 * iters, lr))
        gain = f'{double["stats"]["clear"]["mean"] - s["clear"]["mean"]:+.1f}' if double else '–'
        std = f' ± {s["clear"]["std"]:.1f}' if s['clear']['std'] is not None else ''
        fog = ' | '.join(f'{s[f"foggy_{b:g}"]["mean"]:.1f}' for b in betas)
        lines.append(f'| {iters} | {lr:g} | {curve} | {per_seed} | {s["clear"]["mean"]:.1f}{std} '
                     f'| {gain} | {fog} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()

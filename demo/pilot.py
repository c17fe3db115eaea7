"""How the demo's budget was chosen (``python -m demo.pilot``): student-only runs only.

The budget (iterations, training images, fog level) is picked from runs of the student
trained alone, so that the choice cannot favour a method: no distilled student is
evaluated here. For each candidate ``ITERS:IMAGES`` the student-only runs of every seed
(in the demo's worker pool) are tested on the clear val split and on the foggy val split
at each fog level, and the time of one training iteration of each method is measured
(the distilled methods are trained for ``--probe-iters`` iterations and never tested) to
estimate the wall time of the whole demo. See docs/demo.md for the rule applied to the
output.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import time
from typing import Dict, List

from .configs import student_cfg, test_cfg
from .data import prepare_data
from .files import read_json, write_json
from .jobs import Job, cached_teacher, evaluate, teacher_checkpoint, train
from .measures import latest_scalars, map50
from .options import DemoOptions, run_dir
from .pool import run_jobs
from .stats import describe


def _iteration_seconds(work_dir: str) -> float:
    """Median ``time`` of the logged training iterations of a run (its JSON log)."""
    path = latest_scalars(work_dir)
    times = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            record = json.loads(line)
            if 'loss' in record and 'time' in record:
                times.append(float(record['time']))
    times = sorted(times[1:] or times)  # the first record includes the warm-up
    return times[len(times) // 2]


def estimate_demo_seconds(opts: DemoOptions, per_iter: Dict[str, float], test_s: float,
                          teacher_s: float, overhead_s: float = 90.0) -> float:
    """Wall time of the demo on ``workers`` cores from measured per-run costs.

    Work = teacher + Σ over seeds and methods (iterations × seconds per iteration + tests);
    the pool keeps every worker busy except for the last job, so the wall time is about
    work / workers plus half a distilled run, plus data, start-up and pictures.
    """
    workers = opts.workers or os.cpu_count() or 1
    runs = [opts.iters * per_iter[m] + test_s for m in opts.methods]
    work = teacher_s + len(opts.seeds) * sum(runs)
    return work / workers + max(runs) / 2 + overhead_s


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/demo_pilot')
    p.add_argument('--candidates', default='150:24,150:96,200:96,200:240,150:240',
                   help='ITERS:TRAIN_IMAGES, comma separated')
    p.add_argument('--seeds', default='0,1,2,3')
    p.add_argument('--num-val', type=int, default=DemoOptions.num_val)
    p.add_argument('--betas', default='0.005,0.01,0.02')
    p.add_argument('--probe-iters', type=int, default=20)
    p.add_argument('--workers', type=int, default=None)
    p.add_argument('--budget-seconds', type=float, default=900.0,
                   help='wall time the whole demo may take (estimated)')
    p.add_argument('--min-foggy', type=float, default=20.0,
                   help='student-only mean foggy mAP50 the chosen fog level keeps')
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)  # as in the pool's workers (the probe runs in this process)
    betas = [float(b) for b in a.betas.split(',')]
    seeds = [int(s) for s in a.seeds.split(',')]
    pilot_file = osp.join(a.work_dir, 'pilot.json')
    # candidates measured by an earlier call are kept (and not measured again)
    report = read_json(pilot_file) if osp.isfile(pilot_file) else dict(candidates={})
    report['argv'] = vars(a)
    from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
    for cand in a.candidates.split(','):
        iters, images = (int(x) for x in cand.split(':'))
        if cand in report['candidates']:
            continue
        opts = DemoOptions(work_dir=osp.join(a.work_dir, f'it{iters}_img{images}'),
                           seeds=seeds, iters=iters, target_train=images, num_val=a.num_val,
                           beta=betas[0], methods=('student', ), workers=a.workers)
        roots = prepare_data(opts)
        for beta in betas[1:]:
            if not osp.isdir(osp.join(roots['target'], 'leftImg8bit_foggy', 'val')) or not any(
                    f'beta_{beta}' in n for n in _listdir_recursive(
                        osp.join(roots['target'], 'leftImg8bit_foggy', 'val'))):
                foggify_cityscapes(roots['target'], beta=beta, splits=('val', ))
        t0 = time.time()
        done = run_jobs([Job('student', 'student', s) for s in seeds], opts, roots, a.workers)
        student_pool_s = time.time() - t0
        entry = dict(iters=iters, target_train=images, pool_seconds=round(student_pool_s, 1),
                     seeds={})
        for seed in seeds:
            run = done[f'student_seed{seed}']
            per_seed = dict(clear=run['map50']['clear'],
                            clear_detections=run['detections']['clear'])
            for beta in betas:
                if beta == betas[0]:
                    per_seed[f'foggy_{beta:g}'] = run['map50']['foggy']
                    continue
                fopts = dataclasses.replace(opts, beta=beta)
                tdir = osp.join(run['work_dir'], f'test_foggy_{beta:g}')
                metrics = evaluate(test_cfg(run['plain'], 'foggy', fopts, roots['target'], tdir,
                                            'student'))
                per_seed[f'foggy_{beta:g}'] = map50(metrics)
            entry['seeds'][str(seed)] = per_seed
        keys = ['clear'] + [f'foggy_{b:g}' for b in betas]
        entry['stats'] = {k: describe([v[k] for v in entry['seeds'].values()]) for k in keys}
        entry['min_images_with_detections'] = min(
            v['clear_detections']['images'] for v in entry['seeds'].values())
        entry['recall50'] = describe([v['clear_detections']['recall50']
                                      for v in entry['seeds'].values()])
        entry['train_seconds'] = describe([done[f'student_seed{s}']['train_seconds']
                                           for s in seeds])
        entry['test_seconds'] = describe([done[f'student_seed{s}']['test_seconds']
                                          for s in seeds])
        report['candidates'][cand] = entry
        write_json(pilot_file, report)

    # time of one iteration per method (the distilled runs are trained, never tested)
    probe = DemoOptions(work_dir=osp.join(a.work_dir, 'probe'), seeds=(0, ),
                        iters=a.probe_iters, workers=a.workers)
    roots = prepare_data(probe)
    reused = cached_teacher(probe, roots['source']) and 'teacher_seconds' in report
    t0 = time.time()
    teacher_checkpoint(probe, roots['source'])
    # a reused teacher keeps the time it took to train
    teacher_s = report['teacher_seconds'] if reused else time.time() - t0
    per_iter = {}
    for method in probe.methods:
        cfg = student_cfg(method, 0, probe, roots['target'],
                          osp.abspath(osp.join(probe.work_dir, 'teacher',
                                               f'iter_{probe.teacher_iters}.pth')))
        train(cfg)
        per_iter[method] = _iteration_seconds(run_dir(probe, method, 0))
    report['seconds_per_iteration'] = per_iter
    report['teacher_seconds'] = round(teacher_s, 1)
    for entry in report['candidates'].values():
        opts = DemoOptions(iters=entry['iters'], seeds=seeds, workers=a.workers)
        entry['estimated_demo_seconds'] = round(estimate_demo_seconds(
            opts, per_iter, entry['test_seconds']['mean'], teacher_s))
    report['chosen'] = choose(report, betas, a.budget_seconds, a.min_foggy)
    write_json(pilot_file, report)
    print(format_pilot(report, betas))
    print(f'chosen: {report["chosen"]}')
    return report


def choose(report: dict, betas, budget_seconds: float, min_foggy: float) -> dict:
    """The rule of docs/demo.md, applied to student-only results only.

    Budget: among the candidates whose estimated demo time fits ``budget_seconds``, the
    one of highest mean clear mAP50. Fog: the heaviest ``β`` at which that student's
    mean foggy mAP50 is still ``>= min_foggy`` (room to fall and to rise), else the
    lightest.
    """
    fits = {k: e for k, e in report['candidates'].items()
            if e.get('estimated_demo_seconds', float('inf')) <= budget_seconds}
    if not fits:
        raise ValueError(f'no candidate fits {budget_seconds} s')
    cand = max(fits, key=lambda k: fits[k]['stats']['clear']['mean'])
    stats = fits[cand]['stats']
    heavy = [b for b in sorted(betas) if stats[f'foggy_{b:g}']['mean'] >= min_foggy]
    beta = heavy[-1] if heavy else min(betas)
    return dict(candidate=cand, iters=fits[cand]['iters'],
                target_train=fits[cand]['target_train'], beta=beta)


def _listdir_recursive(root: str) -> List[str]:
    return [n for _, _, files in os.walk(root) for n in files]


def format_pilot(report: dict, betas) -> str:
    lines = ['| iters:images | clear mAP50 per seed | mean ± std | min images with dets | '
             'recall50 | ' + ' | '.join(f'foggy β={b:g} mean' for b in betas)
             + ' | est. demo (s) |', '|---' * (6 + len(betas)) + '|']
    for cand, e in report['candidates'].items():
        s = e['stats']
        clear = ', '.join(f'{v["clear"]:.1f}' for v in e['seeds'].values())
        fog = ' | '.join(f'{s[f"foggy_{b:g}"]["mean"]:.1f}' for b in betas)
        num_val = next(iter(e['seeds'].values()))['clear_detections']['of']
        lines.append(f'| {cand} | {clear} | {s["clear"]["mean"]:.1f} ± {s["clear"]["std"]:.1f} '
                     f'| {e["min_images_with_detections"]}/{num_val} '
                     f'| {e["recall50"]["mean"]:.1f} | {fog} | '
                     f'{e.get("estimated_demo_seconds", "–")} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()


"""End-to-end ProC-KD demo on synthetic Cityscapes-format data (``make demo``).

Steps (every training and test is an mmengine Runner built from the repository's
configs, with the data roots, the budget and the seed overridden):

1. Data (parent process, once): a *source* tree for the teacher, drawn in the regime's
   source domain and label space (demo/regimes.py), and a *target* tree (the students'
   training and val splits), both from :func:`generate_synthetic_cityscapes`, plus a
   foggy copy of the target val split (:func:`foggify_cityscapes`).
2. Jobs, run by a pool of worker processes (``spawn``, one torch thread each,
   as many workers as cores): the teacher (trained once, tested on its source val split
   and cached), then per seed the students on the target label space, all with the same
   iterations, schedule and data: student-only, CWD (the ProC-KD config with
   ``model.lambda_pro=0``) and ProC-KD. Student-only runs need no teacher, so they fill
   the other cores while the teacher trains. A student job measures its gradient norms at
   iteration 0, trains, exports the plain mmdet student, tests it on the clear and the
   foggy val split (:class:`PerClassAP50Metric`), counts its detections and, for ProC-KD,
   measures prototype usage; it returns only paths and numbers and is reused by a later
   run with the same settings. The linear probe (demo/probe.py) and the pictures close.
3. ``summary.json`` (per seed, mean, standard deviation, paired differences with t
   intervals, prototype usage, diagnostics), ``report.json`` and pictures under the work
   dir (``--student rtmdet``: under its ``rtmdet/`` folder, beside the same data and
   teacher); ``--study`` writes ``study_summary.json``.

``workers=1`` runs the same jobs one after another in this process.
"""
import os
import os.path as osp
import time
from dataclasses import asdict

from .data import prepare_data
from .files import log, write_json
from .jobs import Job, cached_teacher, plan_jobs, teacher_result
from .options import DOMAINS, METHOD_NAMES, METHODS, DemoOptions
from .pool import default_workers, run_jobs
from .stats import diagnostics, summarize, usage_summary


def _describe_result(job: Job, result: dict) -> str:
    if job.kind == 'teacher':
        return f'teacher trained in {result["seconds"]:.0f} s'
    if job.kind == 'pictures':
        return f'pictures of seed {job.seed} drawn in {result["seconds"]:.0f} s'
    if job.kind == 'probe':
        return 'linear probe (val accuracy %): ' + ', '.join(
            f'{k} {result[k]["accuracy"]:.1f}' for k in ('teacher', 'random_teacher', 'student'))
    m = result['map50']
    if result.get('cached'):
        return (f'{METHOD_NAMES[job.method]} seed {job.seed}: clear {m["clear"]:.1f}, foggy '
                f'{m["foggy"]:.1f} mAP50 (reused from {result["work_dir"]})')
    return (f'{METHOD_NAMES[job.method]} seed {job.seed}: clear {m["clear"]:.1f}, foggy '
            f'{m["foggy"]:.1f} mAP50 ({result["train_seconds"]:.0f} s training, '
            f'{result["test_seconds"]:.0f} s tests; log {result["log"]})')


def run_demo(opts: DemoOptions, name: str = 'summary', draw_pictures: bool = True) -> dict:
    """Run the whole demo; return the summary (also written to ``<name>.json``, the run's
    report to ``<name>_report.json``; ``summary`` writes ``report.json``).

    A student run whose settings, data and teacher match a finished one on disk is reused
    (the study runs the demo's seeds once)."""
    import procd_mm  # noqa: F401  (registers datasets, metric, models)

    from . import plots
    from .stats import diagnostics_table, paired_table, results_table, usage_table
    start = time.time()
    for method in opts.methods:
        if method not in METHODS:
            raise ValueError(f'unknown method {method!r}; choose from {METHODS}')
    os.makedirs(opts.work_dir, exist_ok=True)
    roots = prepare_data(opts)
    data_seconds = time.time() - start
    teacher = cached_teacher(opts, roots['source'])
    if teacher:
        log(f'reusing the teacher {teacher}')
    jobs = plan_jobs(opts, teacher_cached=teacher is not None, pictures=draw_pictures)
    workers = default_workers(len(jobs)) if opts.workers is None else max(1, opts.workers)
    log(f'{len(jobs)} jobs ({", ".join(j.key for j in jobs)}) on '
         + (f'{workers} worker processes' if workers > 1 else 'this process')
         + f', {opts.threads} torch thread(s) each; students: {opts.iters} iterations')

    def on_done(job: Job, result: dict) -> None:
        log(_describe_result(job, result))

    t_jobs = time.time()
    done = run_jobs(jobs, opts, roots, workers, on_done)
    jobs_seconds = time.time() - t_jobs

    runs = {k: v for k, v in done.items() if 'map50' in v}
    teacher_info = dict(teacher_result(opts), iters=opts.teacher_iters,
                        source_train=opts.source_train, regime=opts.regime) \
        if any(m != 'student' for m in opts.methods) else None
    results = {m: {d: {} for d in DOMAINS} for m in opts.methods}
    extras = {m: {d: {} for d in DOMAINS} for m in opts.methods}
    usage = {d: dict(teacher={}, student={}) for d in DOMAINS}
    for run in runs.values():
        for domain in DOMAINS:
            results[run['method']][domain][run['seed']] = run['map50'][domain]
            for path, u in run.get('prototypes', {}).get(domain, {}).items():
                usage[domain][path][run['seed']] = u
    for method in opts.methods:
        for domain in DOMAINS:
            extras[method][domain]['detections'] = dict(seeds={
                str(r['seed']): r['detections'][domain] for r in sorted(
                    runs.values(), key=lambda r: r['seed']) if r['method'] == method},
                score_thr=opts.score_thr)
            if method == 'procd' and usage[domain]['teacher']:
                extras[method][domain]['prototypes'] = {
                    path: usage_summary(per_seed) for path, per_seed in usage[domain].items()
                    if per_seed}  # no student row where its width is not the prototypes'
    summary = summarize(results, extras)
    summary['diagnostics'] = diagnostics(runs, teacher_info, next(
        (v for k, v in done.items() if k.startswith('probe')), None))
    write_json(osp.join(opts.student_dir, f'{name}.json'), summary)

    fig_dir = opts.figure_dir
    pictures = dict(loss_curves=[r['loss_curve'] for r in runs.values() if 'loss_curve' in r],
                    detections=[], prototypes=[], prototype_usage=[])
    for job_result in (v for k, v in done.items() if k.startswith('pictures')):
        pictures['detections'] += job_result['detections']
        pictures['prototypes'] += job_result['prototypes']
    if 'procd' in summary and 'prototypes' in summary['procd'][DOMAINS[0]]:
        pictures['prototype_usage'].append(plots.plot_prototype_usage(
            summary['procd'], osp.join(fig_dir, 'prototype_usage.png')))

    wall = time.time() - start
    report = dict(options={k: (list(v) if isinstance(v, (tuple, list)) else v)
                           for k, v in asdict(opts).items()},
                  workers=workers, cpu_count=os.cpu_count(),
                  wall_seconds=round(wall, 1), data_seconds=round(data_seconds, 1),
                  jobs_seconds=round(jobs_seconds, 1),
                  job_seconds={k: v.get('seconds') for k, v in done.items()},
                  job_cpu_seconds={k: v.get('cpu_seconds') for k, v in done.items()},
                  cpu_seconds=round(sum(v.get('cpu_seconds', 0.0) for v in done.values()), 1),
                  train_seconds={k: v['train_seconds'] for k, v in runs.items()},
                  test_seconds={k: v['test_seconds'] for k, v in runs.items()},
                  digests={k: v['digest'] for k, v in runs.items()},
                  teacher_ckpt=teacher or done.get('teacher', {}).get('ckpt'),
                  pictures=pictures)
    write_json(osp.join(opts.student_dir, 'report.json' if name == 'summary'
                        else f'{name}_report.json'), report)
    print('\nPer-class AP50 (%), target label space, every student and domain:\n')
    for key in sorted(runs, key=lambda k: (runs[k]['seed'], METHODS.index(runs[k]['method']))):
        for domain in DOMAINS:
            print(runs[key]['tables'][domain])
    print('mAP50 (%) per seed, mean ± standard deviation, paired differences:\n')
    print(results_table(summary, opts.beta))
    print('Paired differences (mAP50 points): mean, 95 % t interval over seeds, seeds > 0:\n')
    print(paired_table(summary))
    print('Diagnostics:\n')
    print(diagnostics_table(summary))
    if 'procd' in summary and 'prototypes' in summary['procd'][DOMAINS[0]]:
        print('Prototype usage (ProC-KD, arg-max over the val images):\n')
        print(usage_table(summary))
    log(f'summary written to {osp.join(opts.student_dir, name + ".json")}; '
         f'pictures under {fig_dir}; {wall:.0f} s in all ({workers} workers)')
    return summary

"""Throughput of the demo's worker pool against one job after another, side by side.

    python tools/analysis/benchmark_demo_pool.py [--seeds 0,1] [--iters 40] [--rounds 1]
        [--target-train 240] [--num-val 40]

Data and teacher are prepared once (the demo's defaults, smaller budgets). Then the same
student jobs (every method × seed: train, export, test clear and foggy, measure) run
``--rounds`` times in each mode, the modes alternating: ``workers=1`` (in this process, one
torch thread: the demo before the pool) and ``workers=N`` (N = cores, one torch thread
each). Reported: wall seconds per mode, the throughput ratio (sequential / pool wall time)
and whether both modes trained bitwise the same students (weight digests). The JSON report
goes to ``<work-dir>/pool_benchmark.json``.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:  # the demo application stands beside the package, as tools do
    sys.path.insert(0, REPO)

from demo.data import prepare_data  # noqa: E402
from demo.files import write_json  # noqa: E402
from demo.jobs import Job, teacher_checkpoint  # noqa: E402
from demo.options import METHODS, DemoOptions, parse_seeds, run_dir  # noqa: E402
from demo.pool import default_workers, run_jobs  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/demo_pool_benchmark')
    p.add_argument('--seeds', default='0,1')
    p.add_argument('--iters', type=int, default=40, help='student iterations per job')
    p.add_argument('--teacher-iters', type=int, default=40)
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--source-train', type=int, default=DemoOptions.source_train)
    p.add_argument('--source-val', type=int, default=DemoOptions.source_val)
    p.add_argument('--target-train', type=int, default=DemoOptions.target_train)
    p.add_argument('--num-val', type=int, default=DemoOptions.num_val)
    p.add_argument('--workers', type=int, default=None, help='pool size (default: cores)')
    return p.parse_args(argv)


def main(argv=None) -> dict:
    a = parse_args(argv)
    import torch
    torch.set_num_threads(1)  # the sequential mode runs the jobs in this process
    base = DemoOptions(work_dir=a.work_dir, seeds=tuple(parse_seeds(a.seeds)), iters=a.iters,
                       teacher_iters=a.teacher_iters, source_train=a.source_train,
                       source_val=a.source_val, target_train=a.target_train, num_val=a.num_val)
    roots = prepare_data(base)
    teacher_checkpoint(base, roots['source'])
    jobs = [Job('student', m, s) for s in base.seeds for m in METHODS]
    pool_size = a.workers or default_workers(len(jobs))
    walls = dict(sequential=[], pool=[])
    digests = {}
    for r in range(a.rounds):
        modes = [('sequential', 1), ('pool', pool_size)]
        for mode, workers in (modes if r % 2 == 0 else modes[::-1]):
            # same teacher and run dirs in both modes; the finished runs of the other mode are
            # forgotten (a job reuses a finished run of the same settings, else clears its dir)
            opts = dataclasses.replace(base, workers=workers)
            for job in jobs:
                cache = osp.join(run_dir(opts, job.method, job.seed), 'demo_result.json')
                if osp.isfile(cache):
                    os.remove(cache)
            t0 = time.perf_counter()
            done = run_jobs(jobs, opts, roots, workers)
            walls[mode].append(time.perf_counter() - t0)
            digests.setdefault(mode, {k: v['digest'] for k, v in done.items()})
    report = dict(jobs=[j.key for j in jobs], iters=a.iters, pool_workers=pool_size,
                  cpu_count=os.cpu_count(), rounds=a.rounds,
                  wall_seconds={m: [round(w, 1) for w in v] for m, v in walls.items()},
                  throughput_ratio=round(min(walls['sequential']) / min(walls['pool']), 2),
                  same_students=digests['sequential'] == digests['pool'])
    write_json(osp.join(a.work_dir, 'pool_benchmark.json'), report)
    print(json.dumps(report, indent=2))
    return report


if __name__ == '__main__':
    main()

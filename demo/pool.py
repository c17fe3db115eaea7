"""Runs the demo's jobs in a pool of worker processes (one torch thread each), or one
after another in this process."""
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Dict, Optional, Sequence

from .jobs import Job, run_job
from .options import DemoOptions


def default_workers(num_jobs: int) -> int:
    return max(1, min(os.cpu_count() or 1, num_jobs))


def init_worker(threads: int) -> None:
    """Pool worker start: one torch thread (the workers share the cores), no GPU."""
    os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
    import torch
    torch.set_num_threads(max(1, threads))


def run_jobs(jobs: Sequence[Job], opts: DemoOptions, roots: Dict[str, str],
             workers: Optional[int] = None,
             on_done: Optional[Callable[[Job, dict], None]] = None) -> Dict[str, dict]:
    """Run ``jobs`` respecting ``needs``; ``{job key: result}``.

    ``workers > 1``: a pool of ``spawn``-ed worker processes, one torch thread each;
    among the jobs whose needs are met, the one of lowest :attr:`Job.priority`
    starts first. ``workers == 1``: the same jobs, in the same order, in this process.
    A failed job stops the run (the jobs already started are finished first).
    """
    workers = default_workers(len(jobs)) if workers is None else max(1, workers)
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError(f'duplicate jobs: {keys}')
    pending = list(jobs)
    done: Dict[str, dict] = {}

    def next_ready() -> Optional[Job]:
        ready = [j for j in pending if all(n in done for n in j.needs)]
        if not ready:
            return None
        job = min(ready, key=lambda j: (j.priority, pending.index(j)))
        pending.remove(job)
        return job

    def missing() -> None:
        if pending:
            raise RuntimeError('jobs whose needs never ran: '
                               + ', '.join(f'{j.key} (needs {j.needs})' for j in pending))

    if workers == 1:
        while True:
            job = next_ready()
            if job is None:
                missing()
                return done
            done[job.key] = run_job(job, opts, roots)
            if on_done:
                on_done(job, done[job.key])

    ctx = multiprocessing.get_context('spawn')
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                             initargs=(opts.threads, )) as pool:
        running = {}
        while True:
            while len(running) < workers:
                job = next_ready()
                if job is None:
                    break
                running[pool.submit(run_job, job, opts, roots)] = job
            if not running:
                missing()
                return done
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                error = future.exception()
                if error is not None:
                    for other in running:
                        other.cancel()
                    raise RuntimeError(f'demo job {job.key} failed: {error!r}') from error
                done[job.key] = future.result()
                if on_done:
                    on_done(job, done[job.key])

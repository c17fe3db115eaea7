"""The demo's units of work (:class:`Job`): the teacher, one student run (train, export,
test clear and foggy, measure) and the pictures; each returns only paths and numbers, so a
worker process can run it."""
import hashlib
import json
import os.path as osp
import shutil
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from procd_mm.utils.checkpoint_io import last_checkpoint

from .configs import student_cfg, teacher_cfg, test_cfg
from .data import val_images
from .files import log, output_to, read_json, stamp_ok, write_json
from .gradients import clipped_fraction, gradient_norms
from .measures import (
    detection_counts,
    latest_scalars,
    loss_flatness,
    map50,
    measure_prototype_usage,
    state_digest,
)
from .options import (
    CONFIG_DIR,
    DOMAINS,
    METHOD_NAMES,
    VAL_ANN,
    DemoOptions,
    regime_of,
    run_dir,
    student_configs,
    teacher_ckpt_path,
)


def train(cfg: Config) -> str:
    """Train through the project's launch path (pre-flight checks, the runner of
    ``tools/train.py``); return the checkpoint the runner last wrote."""
    from procd_mm.apis import build_runner
    build_runner(cfg, cfg.filename, ('train', )).train()
    ckpt = last_checkpoint(cfg.work_dir)
    if ckpt is None:
        raise RuntimeError(f'training wrote no checkpoint in {cfg.work_dir}')
    return ckpt


def evaluate(cfg: Config) -> Dict[str, float]:
    from procd_mm.apis import build_runner
    return dict(build_runner(cfg, cfg.filename, ('test', )).test())


def export_plain(method: str, ckpt: str, dst: str) -> str:
    """A plain mmdet student checkpoint for every method (the distillers' via export)."""
    if method == 'student':
        shutil.copyfile(ckpt, dst)
    else:
        from procd_mm.models.algorithms.export import export_student
        export_student(ckpt, dst)
    return dst


#: Val images (per split) over which the prototype usage of a ProC-KD run is counted.
PROTOTYPE_IMAGES = 100

#: The methods by the cost of one run, longest first (one ProC-KD iteration costs the
#: student's plus the teacher's ``extract_feat`` and the prototype path; CWD the first two).
LONGEST_FIRST = ('procd', 'cwd', 'student')


@dataclass(frozen=True)
class Job:
    """One independent unit of work: ``teacher``, a student run, the ``probe`` or the
    ``pictures``."""
    kind: str  # 'teacher' | 'student' | 'probe' | 'pictures'
    method: Optional[str] = None
    seed: Optional[int] = None
    needs: Tuple[str, ...] = ()

    @property
    def key(self) -> str:
        if self.kind == 'student':
            return f'{self.method}_seed{self.seed}'
        return self.kind if self.seed is None else f'{self.kind}_seed{self.seed}'

    @property
    def priority(self) -> int:
        """Lower runs first among ready jobs, longest first: the teacher, ProC-KD, CWD,
        student only, the probe, the pictures (so that the pool's last jobs are short)."""
        if self.kind == 'teacher':
            return 0
        if self.kind == 'student':
            return 1 + LONGEST_FIRST.index(self.method)
        return 1 + len(LONGEST_FIRST) + (self.kind == 'pictures')


def plan_jobs(opts: DemoOptions, teacher_cached: bool, pictures: bool = True,
              probe: bool = True) -> List[Job]:
    """The teacher (unless cached or unused), every method × seed, the linear probe (when
    the student alone and a distilled method run) and, optionally, the pictures of the
    first seed."""
    teacher_needed = not teacher_cached and any(m != 'student' for m in opts.methods)
    jobs = [Job('teacher')] if teacher_needed else []
    needs_teacher = ('teacher', ) if teacher_needed else ()
    for seed in opts.seeds:
        for method in opts.methods:
            jobs.append(Job('student', method, seed,
                            () if method == 'student' else needs_teacher))
    uses_teacher = any(m != 'student' for m in opts.methods)
    if probe and opts.seeds and uses_teacher and 'student' in opts.methods:
        jobs.append(Job('probe', seed=opts.seeds[0],
                        needs=needs_teacher + (f'student_seed{opts.seeds[0]}', )))
    if pictures and opts.seeds:
        seed0 = opts.seeds[0]
        jobs.append(Job('pictures', seed=seed0, needs=tuple(
            j.key for j in jobs if j.kind == 'student' and j.seed == seed0)))
    return jobs


def run_job(job: Job, opts: DemoOptions, roots: Dict[str, str]) -> dict:
    """Run one job in this process; returns only picklable data (paths, numbers, strings)."""
    import torch

    import procd_mm  # noqa: F401  (registers datasets, metric, models)
    threads = torch.get_num_threads()
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    cpu = time.process_time()
    try:
        if job.kind == 'teacher':
            result = _teacher_job(opts, roots['source'])
        elif job.kind == 'pictures':
            result = _pictures_job(opts, roots, job.seed)
        elif job.kind == 'probe':
            result = _probe_job(opts, roots['target'], job.seed)
        else:
            result = _student_job(job.method, job.seed, opts, roots)
    finally:
        torch.set_num_threads(threads)
    # CPU time of this process during the job: the job's cost on an otherwise idle core
    result['cpu_seconds'] = round(time.process_time() - cpu, 1)
    return result


def config_digest(cfg: Config) -> str:
    """SHA-256 of a run's settings, leaving out its names, its work dir and where its
    training data lies (the data is identified by its own stamp)."""
    d = {k: v for k, v in cfg.to_dict().items()
         if k not in ('work_dir', 'experiment_name', 'visualizer')}
    d['train_dataloader'] = dict(d['train_dataloader'], dataset=dict(
        d['train_dataloader']['dataset'], data_root=None))
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def _teacher_job(opts: DemoOptions, source_root: str) -> dict:
    """Train the teacher, then test it on the source val split (its own label space)."""
    cfg = teacher_cfg(opts, source_root)
    shutil.rmtree(cfg.work_dir, ignore_errors=True)
    start = time.time()
    with output_to(osp.join(cfg.work_dir, 'demo_job.log')):
        ckpt = train(cfg)
        test_dir = osp.join(cfg.work_dir, 'test_source')
        metrics = evaluate(test_cfg(ckpt, 'clear', opts, source_root, test_dir, 'teacher',
                                    config=regime_of(opts).teacher_config))
    result = dict(ckpt=ckpt, seconds=round(time.time() - start, 1),
                  source_map50=map50(metrics))
    write_json(osp.join(cfg.work_dir, 'demo_result.json'), result)
    write_json(osp.join(cfg.work_dir, 'demo_stamp.json'), _teacher_stamp(opts, source_root))
    return result


def _student_job(method: str, seed: int, opts: DemoOptions, roots: Dict[str, str]) -> dict:
    from procd_mm.evaluation.paper_table import format_markdown

    from . import plots
    target = roots['target']
    cfg = student_cfg(method, seed, opts, target, teacher_ckpt_path(opts))
    stamp = _student_stamp(cfg, opts, roots)
    cache = osp.join(cfg.work_dir, 'demo_result.json')
    if osp.isfile(cache):
        cached = read_json(cache)
        if cached.get('stamp') == stamp:
            return dict(cached['result'], cached=True)
    shutil.rmtree(cfg.work_dir, ignore_errors=True)
    log = osp.join(cfg.work_dir, 'demo_job.log')
    out = dict(method=method, seed=seed, work_dir=cfg.work_dir, log=log, map50={}, tables={},
               detections={})
    t0 = time.time()
    with output_to(log):
        out['gradients'] = gradient_norms(cfg, seed)
        ckpt = train(cfg)
        out['train_seconds'] = round(time.time() - t0, 1)
        out['ckpt'] = ckpt
        out['plain'] = export_plain(method, ckpt, osp.join(cfg.work_dir, 'student.pth'))
        out['digest'] = state_digest(out['plain'])
        t1 = time.time()
        for domain in DOMAINS:
            test_dir = osp.join(cfg.work_dir, f'test_{domain}')
            metrics = evaluate(test_cfg(out['plain'], domain, opts, target, test_dir, method))
            out['map50'][domain] = map50(metrics)
            try:
                out['tables'][domain] = format_markdown(
                    metrics, f'{METHOD_NAMES[method]} s{seed} {domain}')
            except KeyError:  # no detections at all: CocoMetric has no per-class row
                out['tables'][domain] = f'{METHOD_NAMES[method]} s{seed} {domain}: ' \
                                        'no detections\n'
            out['detections'][domain] = detection_counts(
                target + VAL_ANN, osp.join(test_dir, f'detections_{domain}.bbox.json'),
                opts.score_thr, cfg.train_dataloader.dataset.metainfo.classes)
        out['test_seconds'] = round(time.time() - t1, 1)
        if method == 'procd':
            out['prototypes'] = measure_prototype_usage(
                cfg, ckpt, {d: val_images(target, opts.beta, PROTOTYPE_IMAGES, domain=d)
                            for d in DOMAINS})
        scalars = latest_scalars(cfg.work_dir)
        out['clipping'] = clipped_fraction(scalars, cfg.optim_wrapper.clip_grad.max_norm)
        out['loss_flatness'] = loss_flatness(scalars)
        out['loss_curve'] = plots.plot_loss_curves(
            scalars, osp.join(opts.figure_dir, f'loss_{method}_seed{seed}.png'),
            title=f'{METHOD_NAMES[method]} seed {seed}')
    out['seconds'] = round(time.time() - t0, 1)
    write_json(cache, dict(stamp=stamp, result=out))
    return out


def _student_stamp(cfg: Config, opts: DemoOptions, roots: Dict[str, str]) -> dict:
    """What a student run's result depends on: its settings, its data and, when distilled,
    its teacher; a run with the same stamp on disk is reused."""
    return dict(config=config_digest(cfg), threads=opts.threads,
                data=read_json(osp.join(roots['target'], 'demo_stamp.json')),
                teacher=None if cfg.model.get('type') != 'ProCKD' else
                _teacher_stamp(opts, roots['source']))


def _probe_job(opts: DemoOptions, target_root: str, seed: int) -> dict:
    """The linear probe (demo/probe.py) of the trained teacher, a random teacher of the same
    architecture and the student trained alone (seed ``seed``), on the student's classes."""
    from mmengine.config import Config

    from .probe import probe
    regime = regime_of(opts)
    teacher_config = osp.join(CONFIG_DIR, regime.teacher_config)
    student_config = osp.join(CONFIG_DIR, student_configs(opts)[0])
    classes = tuple(Config.fromfile(student_config).train_dataloader.dataset.metainfo.classes)
    start = time.time()
    with output_to(osp.join(opts.work_dir, 'probe', 'demo_job.log')):
        out = dict(
            teacher=probe(teacher_config, teacher_ckpt_path(opts), target_root, classes),
            random_teacher=probe(teacher_config, None, target_root, classes),
            student=probe(student_config, osp.join(run_dir(opts, 'student', seed),
                                                   'student.pth'), target_root, classes))
        out['teacher_on_target'] = _teacher_on_target(opts, target_root)
    out['student_seed'] = seed
    out['seconds'] = round(time.time() - start, 1)
    return out


def _teacher_on_target(opts: DemoOptions, target_root: str) -> Dict[str, float]:
    """The teacher's own mAP50 on the target val split (clear and foggy), on the classes of
    the target's annotations that its label space has, in its label space: how much of its
    detection transfers to the students' domain."""
    from .data import relabel_categories
    regime = regime_of(opts)
    ann = osp.abspath(osp.join(opts.work_dir, 'probe', 'val_in_teacher_labels.json'))
    write_json(ann, read_json(target_root + VAL_ANN))
    if regime.source_categories:
        relabel_categories(ann, regime.source_categories)
    out = {}
    for domain in DOMAINS:
        cfg = test_cfg(teacher_ckpt_path(opts), domain, opts, target_root,
                       osp.join(opts.work_dir, 'probe', f'teacher_{domain}'), 'teacher',
                       config=regime.teacher_config)
        cfg.test_dataloader.dataset.ann_file = cfg.test_evaluator.ann_file = ann
        out[domain] = map50(evaluate(cfg))
    return out


def _pictures_job(opts: DemoOptions, roots: Dict[str, str], seed: int) -> dict:
    """Side-by-side detections of every method and the ProC-KD prototype maps of one seed."""
    from procd_mm.visualization import visualize

    from . import plots
    fig_dir = opts.figure_dir
    images = val_images(roots['target'], opts.beta, opts.num_pictures)
    out = dict(detections=[], prototypes=[])
    start = time.time()
    with output_to(osp.join(fig_dir, 'demo_job.log')):
        models = [(METHOD_NAMES[m], osp.join(run_dir(opts, m, seed), 'student.pth'))
                  for m in opts.methods]
        if models:
            out['detections'] = plots.side_by_side_detections(
                osp.join(CONFIG_DIR, student_configs(opts)[0]), models, images,
                osp.join(fig_dir, 'detections'), score_thr=opts.score_thr,
                ground_truth=plots.coco_ground_truth(roots['target'] + VAL_ANN))
        if 'procd' in opts.methods:
            cfg = student_cfg('procd', seed, opts, roots['target'], teacher_ckpt_path(opts))
            ckpt = last_checkpoint(run_dir(opts, 'procd', seed))
            out['prototypes'] = visualize(cfg, ckpt, images, osp.join(fig_dir, 'prototypes'))
    out['seconds'] = round(time.time() - start, 1)
    return out


def _teacher_stamp(opts: DemoOptions, source_root: str) -> dict:
    """What the teacher depends on: its config and budget, and its source data."""
    return dict(regime=opts.regime, config=config_digest(teacher_cfg(opts, source_root)),
                iters=opts.teacher_iters, threads=opts.threads,
                data=read_json(osp.join(source_root, 'demo_stamp.json')))


def cached_teacher(opts: DemoOptions, source_root: str) -> Optional[str]:
    """The teacher checkpoint if one trained with these settings is on disk."""
    ckpt = teacher_ckpt_path(opts)
    stamp_file = osp.join(opts.work_dir, 'teacher', 'demo_stamp.json')
    if osp.isfile(ckpt) and stamp_ok(stamp_file, _teacher_stamp(opts, source_root)):
        return ckpt
    return None


def teacher_result(opts: DemoOptions) -> dict:
    """The cached teacher's own result (checkpoint, training time, source val mAP50)."""
    return read_json(osp.join(opts.work_dir, 'teacher', 'demo_result.json'))


def teacher_checkpoint(opts: DemoOptions, source_root: str) -> str:
    """Reuse the cached teacher or train it in this process."""
    ckpt = cached_teacher(opts, source_root)
    if ckpt:
        log(f'reusing the teacher {ckpt}')
        return ckpt
    log(f'training the teacher ({opts.teacher_iters} iters)')
    result = run_job(Job('teacher'), opts, dict(source=source_root))
    log(f'teacher trained in {result["seconds"]:.0f} s')
    return result['ckpt']

"""End-to-end ProC-KD demo on synthetic Cityscapes-format data (``make demo``).

Steps (all runs are mmengine Runners built in-process from the repository's
configs, so no run pays the ~8 s import of a fresh interpreter):

1. Data: a *source* tree (larger training split, for the teacher) and a
   *target* tree (a small training split, for the students), both from
   :func:`generate_synthetic_cityscapes` with different seeds, plus a foggy
   version (β = 0.02, :func:`foggify_cityscapes`) of the target val split.
2. Teacher: ``configs/synthetic/teacher_tiny.py`` (car/truck/bus/train) on the
   source tree. Cached: a rerun with the same settings reuses it.
3. Students on the target label space (person/rider/motorcycle/bicycle), with
   the same iterations, schedule, data and seeds: student-only
   (``student_tiny.py``), CWD (``procd_tiny.py`` with ``model.lambda_pro=0``)
   and ProC-KD (``procd_tiny.py``).
4. Every student (exported to a plain mmdet checkpoint) is tested on the clear
   and the foggy target val split with :class:`PerClassAP50Metric`.
5. ``summary.json``, the per-class AP50 tables, loss curves, side-by-side
   detections and prototype maps under the work dir.
"""
import glob
import json
import math
import os
import os.path as osp
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from procd_mm.datasets.foggy_cityscapes import foggy_file_name

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs', 'synthetic')
METHODS = ('student', 'cwd', 'procd')
METHOD_NAMES = dict(student='Student', cwd='CWD', procd='ProC-KD')
DOMAINS = ('clear', 'foggy')
VAL_ANN = 'annotations/instancesonly_filtered_gtFine_val.json'
TRAIN_ANN = 'annotations/instancesonly_filtered_gtFine_train.json'


@dataclass
class DemoOptions:
    """Sizes and budgets of one demo run (defaults: ``make demo``, ~15 min on 2 CPU cores)."""
    work_dir: str = 'work_dirs/demo'
    seeds: Sequence[int] = (0, 1)
    iters: int = 150
    teacher_iters: int = 200
    source_train: int = 160
    target_train: int = 24
    num_val: int = 40
    height: int = 128
    width: int = 256
    beta: float = 0.005  # lightest Foggy Cityscapes level; see docs/demo.md
    source_seed: int = 1000
    target_seed: int = 0
    num_pictures: int = 3
    score_thr: float = 0.1
    threads: int = 1  # torch threads; 1 avoids OpenMP spin-waiting on a shared 2-core box
    methods: Sequence[str] = METHODS
    extra: Dict = field(default_factory=dict)

    @property
    def data_dir(self) -> str:
        return osp.join(self.work_dir, 'data')


def _log(msg: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def _stamp_ok(path: str, stamp: dict) -> bool:
    if not osp.isfile(path):
        return False
    with open(path, encoding='utf-8') as f:
        return json.load(f) == stamp


def _write_json(path: str, data) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)


# --------------------------------------------------------------------------- data
def prepare_data(opts: DemoOptions) -> Dict[str, str]:
    """Generate (or reuse) the source and target trees and the foggy target val split."""
    from procd_mm.datasets.preparation.fog_synthesis import foggify_cityscapes
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
    roots = {}
    for name, seed, num_train, num_val in (
            ('source', opts.source_seed, opts.source_train, max(8, opts.num_val // 4)),
            ('target', opts.target_seed, opts.target_train, opts.num_val)):
        root = osp.join(opts.data_dir, name)
        stamp = dict(seed=seed, num_train=num_train, num_val=num_val, height=opts.height,
                     width=opts.width, beta=opts.beta if name == 'target' else None)
        stamp_file = osp.join(root, 'demo_stamp.json')
        if not _stamp_ok(stamp_file, stamp):
            _log(f'generating the {name} data ({num_train} train / {num_val} val images)')
            shutil.rmtree(root, ignore_errors=True)
            generate_synthetic_cityscapes(root, seed=seed, num_train=num_train, num_val=num_val,
                                          height=opts.height, width=opts.width)
            if name == 'target':
                foggify_cityscapes(root, beta=opts.beta, splits=('val',))
            _write_json(stamp_file, stamp)
        else:
            _log(f'reusing the {name} data in {root}')
        roots[name] = osp.abspath(root) + '/'
    return roots


# --------------------------------------------------------------------------- configs
def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def _point_data(cfg: Config, root: str) -> None:
    cfg.train_dataloader.dataset.data_root = root


def _schedule(cfg: Config, iters: int) -> None:
    """The config's schedule (warm-up, step at 80 %) rescaled to ``iters``."""
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=max(1, min(20, iters // 5))),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=iters,
             milestones=[max(1, int(iters * 0.8))], gamma=0.1),
    ]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters,
                                        max_keep_ckpts=1, save_last=True)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, min(10, iters // 20)))
    # no validation during training: the demo tests every student afterwards
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None


def _name_run(cfg: Config, work_dir: str, name: str) -> None:
    """Own work dir, experiment, logger and visualizer per run (mmengine keeps them by name)."""
    cfg.work_dir = work_dir
    unique = f'{name}_{time.time_ns()}'
    cfg.experiment_name = unique
    cfg.visualizer = dict(cfg.visualizer, name=unique)


def teacher_cfg(opts: DemoOptions, source_root: str) -> Config:
    cfg = _load('teacher_tiny.py')
    _point_data(cfg, source_root)
    _schedule(cfg, opts.teacher_iters)
    cfg.randomness = dict(seed=0)
    _name_run(cfg, osp.join(opts.work_dir, 'teacher'), 'teacher')
    return cfg


def student_cfg(method: str, seed: int, opts: DemoOptions, target_root: str,
                teacher_ckpt: str) -> Config:
    """Training config of one student run: the real configs with demo data and budget."""
    if method not in METHODS:
        raise ValueError(f'unknown method {method!r}; choose from {METHODS}')
    cfg = _load('student_tiny.py' if method == 'student' else 'procd_tiny.py')
    if method != 'student':
        cfg.model.teacher_ckpt = teacher_ckpt
        cfg.model.teacher = dict(cfg_path=osp.join(CONFIG_DIR, 'teacher_tiny.py'))
        if method == 'cwd':
            cfg.model.lambda_pro = 0.0
    _point_data(cfg, target_root)
    _schedule(cfg, opts.iters)
    cfg.randomness = dict(seed=seed)
    for key, value in opts.extra.get(method, {}).items():
        cfg.merge_from_dict({key: value})
    _name_run(cfg, osp.join(opts.work_dir, f'{method}_seed{seed}'), f'{method}_s{seed}')
    return cfg


def test_cfg(ckpt: str, domain: str, opts: DemoOptions, target_root: str, work_dir: str,
             method: str) -> Config:
    """Test config of an exported student on the clear or the foggy target val split."""
    cfg = _load('student_tiny.py')
    ds = cfg.test_dataloader.dataset
    ds.data_root = target_root
    ds.ann_file = VAL_ANN
    if domain == 'foggy':
        ds.type = 'FoggyCityscapesDataset'
        ds.beta = opts.beta
        ds.data_prefix = dict(img='leftImg8bit_foggy/val/')
    else:
        ds.data_prefix = dict(img='leftImg8bit/val/')
    cfg.test_evaluator = dict(type='PerClassAP50Metric', ann_file=target_root + VAL_ANN,
                              metric='bbox', table_dir=work_dir, table_name=f'ap50_{domain}',
                              method=f'{METHOD_NAMES.get(method, method)} ({domain})')
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.load_from = ckpt
    _name_run(cfg, work_dir, f'test_{method}_{domain}')
    return cfg


# --------------------------------------------------------------------------- runs
def train(cfg: Config) -> str:
    """Train with an mmengine Runner; return the final checkpoint path."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg["max_iters"]}.pth')
    if not osp.isfile(ckpt):
        raise RuntimeError(f'training did not write {ckpt}')
    return ckpt


def evaluate(cfg: Config) -> Dict[str, float]:
    from mmengine.runner import Runner
    return dict(Runner.from_cfg(cfg).test())


def export_plain(method: str, ckpt: str, dst: str) -> str:
    """A plain mmdet student checkpoint (SPEC §3.4) for every method."""
    if method == 'student':
        shutil.copyfile(ckpt, dst)
    else:
        from procd_mm.models.algorithms.export import export_student
        export_student(ckpt, dst)
    return dst


def map50(metrics: Dict[str, float]) -> float:
    """Paper mAP50 in percent (0 when the student made no detection at all)."""
    for key, value in metrics.items():
        if key.rsplit('/', 1)[-1] == 'bbox_mAP50_paper':
            return 0.0 if value is None or math.isnan(value) else 100.0 * float(value)
    return 0.0


def latest_scalars(work_dir: str) -> Optional[str]:
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` of the latest run (or its ``<ts>.json``)."""
    stamps = sorted(d for d in os.listdir(work_dir)
                    if osp.isdir(osp.join(work_dir, d, 'vis_data'))) if osp.isdir(work_dir) else []
    for stamp in reversed(stamps):
        vis = osp.join(work_dir, stamp, 'vis_data')
        for name in ('scalars.json', f'{stamp}.json'):
            if osp.isfile(osp.join(vis, name)):
                return osp.join(vis, name)
    return None


def teacher_checkpoint(opts: DemoOptions, source_root: str) -> str:
    cfg = teacher_cfg(opts, source_root)
    ckpt = osp.join(cfg.work_dir, f'iter_{opts.teacher_iters}.pth')
    stamp = dict(iters=opts.teacher_iters, data=json.load(
        open(osp.join(source_root, 'demo_stamp.json'), encoding='utf-8')))
    stamp_file = osp.join(cfg.work_dir, 'demo_stamp.json')
    if osp.isfile(ckpt) and _stamp_ok(stamp_file, stamp):
        _log(f'reusing the teacher {ckpt}')
        return ckpt
    _log(f'training the teacher ({opts.teacher_iters} iters, classes {cfg.classes})')
    shutil.rmtree(cfg.work_dir, ignore_errors=True)
    start = time.time()
    train(cfg)
    _write_json(stamp_file, stamp)
    _log(f'teacher trained in {time.time() - start:.0f} s')
    return ckpt


def summarize(results: Dict[str, Dict[str, Dict[int, float]]]) -> dict:
    summary = {}
    for method, per_domain in results.items():
        summary[method] = {}
        for domain, per_seed in per_domain.items():
            values = list(per_seed.values())
            summary[method][domain] = dict(seeds={str(s): v for s, v in per_seed.items()},
                                           mean=sum(values) / len(values) if values else None)
    return summary


def format_summary(summary: dict) -> str:
    lines = ['| Method | ' + ' | '.join(f'{d} mAP50 (seeds)' for d in DOMAINS)
             + ' | ' + ' | '.join(f'{d} mean' for d in DOMAINS) + ' |',
             '|---' * (1 + 2 * len(DOMAINS)) + '|']
    for method, per_domain in summary.items():
        seeds = [', '.join(f'{v:.1f}' for v in per_domain[d]['seeds'].values())
                 for d in DOMAINS]
        means = [f'{per_domain[d]["mean"]:.1f}' for d in DOMAINS]
        lines.append(f'| {METHOD_NAMES.get(method, method)} | ' + ' | '.join(seeds) + ' | '
                     + ' | '.join(means) + ' |')
    return '\n'.join(lines) + '\n'


def val_images(root: str, beta: Optional[float], count: int) -> List[str]:
    """The first ``count`` target val images, each clear and (if ``beta``) foggy."""
    clear = sorted(glob.glob(osp.join(root, 'leftImg8bit', 'val', '*', '*_leftImg8bit.png')))
    out = []
    for path in clear[:count]:
        out.append(path)
        if beta is not None:
            rel = osp.relpath(path, osp.join(root, 'leftImg8bit', 'val'))
            foggy = osp.join(root, 'leftImg8bit_foggy', 'val', foggy_file_name(rel, beta))
            if osp.isfile(foggy):
                out.append(foggy)
    return out


def run_demo(opts: DemoOptions) -> dict:
    """Run the whole demo; return the summary (also written to ``summary.json``)."""
    import torch

    import procd_mm  # noqa: F401  (registers datasets, metric, models)
    from procd_mm.evaluation.paper_table import format_markdown
    from procd_mm.visualization import visualize

    from . import plots
    start = time.time()
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    os.makedirs(opts.work_dir, exist_ok=True)
    roots = prepare_data(opts)
    teacher = teacher_checkpoint(opts, roots['source'])
    results = {m: {d: {} for d in DOMAINS} for m in opts.methods}
    tables, runs, timings = [], {}, {}
    for seed in opts.seeds:
        for method in opts.methods:
            cfg = student_cfg(method, seed, opts, roots['target'], teacher)
            shutil.rmtree(cfg.work_dir, ignore_errors=True)
            _log(f'training {METHOD_NAMES[method]} seed {seed} ({opts.iters} iters)')
            t0 = time.time()
            ckpt = train(cfg)
            timings[f'{method}_seed{seed}'] = round(time.time() - t0, 1)
            plain = export_plain(method, ckpt, osp.join(cfg.work_dir, 'student.pth'))
            runs[(method, seed)] = dict(work_dir=cfg.work_dir, ckpt=ckpt, plain=plain)
            for domain in DOMAINS:
                tcfg = test_cfg(plain, domain, opts, roots['target'],
                                osp.join(cfg.work_dir, f'test_{domain}'), method)
                metrics = evaluate(tcfg)
                results[method][domain][seed] = map50(metrics)
                try:
                    tables.append(format_markdown(
                        metrics, f'{METHOD_NAMES[method]} s{seed} {domain}'))
                except KeyError:  # no detections at all: CocoMetric has no per-class row
                    tables.append(f'{METHOD_NAMES[method]} s{seed} {domain}: no detections\n')
            _log(f'{METHOD_NAMES[method]} seed {seed}: clear '
                 f'{results[method]["clear"][seed]:.1f}, foggy '
                 f'{results[method]["foggy"][seed]:.1f} mAP50')

    summary = summarize(results)
    _write_json(osp.join(opts.work_dir, 'summary.json'), summary)

    # pictures
    fig_dir = osp.join(opts.work_dir, 'figures')
    os.makedirs(fig_dir, exist_ok=True)
    pictures = dict(loss_curves=[], detections=[], prototypes=[])
    for (method, seed), run in runs.items():
        scalars = latest_scalars(run['work_dir'])
        if scalars:
            out = osp.join(fig_dir, f'loss_{method}_seed{seed}.png')
            plots.plot_loss_curves(scalars, out, title=f'{METHOD_NAMES[method]} seed {seed}')
            pictures['loss_curves'].append(out)
    seed0 = opts.seeds[0]
    images = val_images(roots['target'], opts.beta, opts.num_pictures)
    if ('student', seed0) in runs and ('procd', seed0) in runs:
        models = [(METHOD_NAMES[m], runs[(m, seed0)]['plain']) for m in ('student', 'procd')]
        pictures['detections'] = plots.side_by_side_detections(
            osp.join(CONFIG_DIR, 'student_tiny.py'), models, images,
            osp.join(fig_dir, 'detections'), score_thr=opts.score_thr)
    if ('procd', seed0) in runs:
        pictures['prototypes'] = visualize(
            osp.join(CONFIG_DIR, 'procd_tiny.py'), runs[('procd', seed0)]['ckpt'], images,
            osp.join(fig_dir, 'prototypes'))

    wall = time.time() - start
    report = dict(options={k: (list(v) if isinstance(v, (tuple, list)) else v)
                           for k, v in asdict(opts).items()},
                  train_seconds=timings, wall_seconds=round(wall, 1), pictures=pictures)
    _write_json(osp.join(opts.work_dir, 'report.json'), report)
    print('\nPer-class AP50 (%), target label space, every student and domain:\n')
    print('\n'.join(tables))
    print('mAP50 (%) per seed and mean:\n')
    print(format_summary(summary))
    _log(f'summary written to {osp.join(opts.work_dir, "summary.json")}; '
         f'pictures under {fig_dir}; {wall:.0f} s in all')
    return summary


def parse_seeds(text: str) -> List[int]:
    return [int(s) for s in text.split(',') if s.strip()]

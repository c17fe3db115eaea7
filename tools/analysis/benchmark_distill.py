"""Cost of distillation: student-only, CWD, ProC-KD, PrototypeLearning, teacher (``make bench``).

    python tools/analysis/benchmark_distill.py [--student cascade|rtmdet] [--size tiny|full]
        [--height H --width W]

``--student rtmdet`` measures a one-stage student (docs/method.md, "Dense students"): the
tiny synthetic RTMDet under the tiny teacher (connectors and the projection between widths
96 and 64), or at full size RTMDet-s under the Swin-B teacher (configs/dense/).

Three measurements, each repeated with the variants interleaved (round-robin,
rotating the order every round) and summarised by the median:

(a) one training step (forward, backward, AdamW step) of the student alone,
    of the *floor* (the teacher's ``extract_feat`` under ``no_grad`` followed
    by the student step: what any feature distillation must at least pay),
    of CWD (``ProCKD`` with ``lambda_pro=0``) and of ProC-KD, all on the same
    batch and the same student/teacher architectures; ratios to the floor and
    ProC-KD / CWD (target: ≤ 1.15 for time and for peak memory), with the share of
    sampled RoIs that read FPN level 3 (``finest_scale`` scaled with the image), or for a
    dense student the positive priors on its stride-32 level.
(b) ``PrototypeLearning.aggregate`` (matmul form ``A·Fᵀ − (A·1)⊙P``) against
    the naive residual form that materialises ``[B, n, D, HW]``, forward and
    backward, at the P5 size of a 1024×2048 image (B=2, D=256, 32×64, n=72).
(c) the teacher: a full forward through its heads (``predict``) vs ``extract_feat``.

Memory. On CUDA: ``torch.cuda.max_memory_allocated()`` minus the allocated
memory before the step (peak *growth* during the step), in-process. On CPU:
peak RSS growth during the step, measured in a separate, fresh child process
started with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc serves every
tensor-sized allocation with mmap and returns it on free (RSS then follows live
memory); before each step the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs`` ← 5) and the step's peak is ``VmHWM − VmRSS``
before the step. Times are taken in the parent process (normal allocator).
"""
import argparse
import gc
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'synthetic')
STEP_VARIANTS = ('student', 'floor', 'cwd', 'procd')
TARGET_RATIO = 1.15


# --------------------------------------------------------------------------- models
def _full_size_models() -> Dict[str, dict]:
    """The paper's Swin-T student (8 classes, 4conv1fc SyncBN heads) and Swin-B teacher
    (80 classes), Cascade Mask R-CNN, from this repository's model configs."""
    from mmengine.config import Config
    base = osp.join(REPO, 'configs', '_base_', 'models')
    student = Config.fromfile(osp.join(base, 'cascade-mask-rcnn_swin-t-p4-w7_fpn.py')).model
    student.backbone.init_cfg = None
    teacher = Config.fromfile(osp.join(base, 'cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py')).model
    return dict(student=student.to_dict(), teacher=teacher.to_dict())


def scale_finest_scale(model: dict, height: int) -> None:
    """``finest_scale`` of the RoI extractors scaled with the image (56 at 1024 rows), so that
    as large a share of RoIs reads each FPN level as at the paper's 1024x2048 inputs."""
    scale = max(1, round(56 * height / 1024))
    for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
        extractor = model['roi_head'].get(key)
        for cfg in extractor if isinstance(extractor, list) else [extractor]:
            if cfg is not None:
                cfg['finest_scale'] = scale


def _dense_full_size_models() -> Dict[str, dict]:
    """RTMDet-s (8 classes) under the Swin-B teacher, from configs/dense/."""
    from mmengine.config import Config
    dense = osp.join(REPO, 'configs', 'dense')
    student = Config.fromfile(osp.join(dense, 'rtmdet-s_foggy.py')).model
    student.backbone.init_cfg = None
    procd = Config.fromfile(osp.join(dense, 'procd_rtmdet-s_foggy.py')).model.to_dict()
    return dict(student=student.to_dict(), teacher=_full_size_models()['teacher'], procd=procd)


def model_cfgs(size: str, height: int, student_family: str = 'cascade') -> Dict[str, dict]:
    """``student``, ``teacher`` and ``procd`` (algorithm) model configs for ``size``."""
    from mmengine.config import Config

    def tiny(name):
        return Config.fromfile(osp.join(CONFIG_DIR, name)).model.to_dict()
    if size not in ('tiny', 'full'):
        raise ValueError(f'unknown model size {size!r} (tiny or full)')
    if student_family == 'rtmdet':
        if size == 'tiny':
            student, teacher = tiny('student-rtmdet_tiny.py'), tiny('teacher_tiny.py')
            procd = tiny('procd-rtmdet_tiny.py')
        else:
            full = _dense_full_size_models()
            student, teacher, procd = full['student'], full['teacher'], full['procd']
    else:
        procd = tiny('procd_tiny.py')
        if size == 'tiny':
            student, teacher = tiny('student_tiny.py'), tiny('teacher_tiny.py')
        else:
            full = _full_size_models()
            student, teacher = full['student'], full['teacher']
            procd['prototype_learning'] = dict(type='PrototypeLearning', num_prototypes=72)
        scale_finest_scale(student, height)
    procd.update(architecture=student, teacher=teacher, teacher_ckpt=None, teacher_strict=False)
    procd.pop('_scope_', None)
    return dict(student=student, teacher=teacher, procd=procd)


def build_variants(size: str, height: int, device: str,
                   student_family: str = 'cascade') -> Dict[str, dict]:
    """Every variant's trainable module and optimizer; same seed for every build."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope
    from mmrazor.registry import MODELS as RAZOR_MODELS

    import procd_mm  # noqa: F401
    init_default_scope('mmdet')
    cfgs = model_cfgs(size, height, student_family)
    out = {}

    def det(cfg):
        torch.manual_seed(0)
        return DET_MODELS.build(ConfigDict(cfg)).to(device)

    student = det(cfgs['student'])
    teacher = det(cfgs['teacher']).eval().requires_grad_(False)
    floor_student = det(cfgs['student'])
    for name in ('cwd', 'procd'):
        cfg = dict(cfgs['procd'], _scope_='mmrazor')
        if name == 'cwd':
            cfg['lambda_pro'] = 0.0
        torch.manual_seed(0)
        out[name] = dict(model=RAZOR_MODELS.build(ConfigDict(cfg)).to(device))
    init_default_scope('mmdet')
    out['student'] = dict(model=student)
    out['floor'] = dict(model=floor_student, teacher=teacher)
    out['teacher'] = dict(model=teacher)
    for name in STEP_VARIANTS:
        params = [p for p in out[name]['model'].parameters() if p.requires_grad]
        out[name]['optim'] = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.05)
        out[name]['model'].train()
    for name in ('cwd', 'procd'):
        out[name]['model'].teacher.eval()
    return out


def make_batch(model, batch: int, height: int, width: int, num_classes: int, device: str,
               with_mask: bool = True):
    """A fixed batch of random images with boxes (and masks), preprocessed by ``model``."""
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    packed = demo_mm_inputs(batch_size=batch, image_shapes=[(3, height, width)] * batch,
                            num_items=[6] * batch, num_classes=num_classes,
                            with_mask=with_mask)
    data = model.data_preprocessor(packed, True)
    data['inputs'] = data['inputs'].to(device)
    data['data_samples'] = [s.to(device) for s in data['data_samples']]
    return data


def step_fn(name: str, variant: dict, data: dict) -> Callable[[], None]:
    model, optim = variant['model'], variant['optim']
    inputs, samples = data['inputs'], data['data_samples']

    def step():
        if name == 'floor':
            with torch.no_grad():
                feats = variant['teacher'].extract_feat(inputs)
        losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        if name == 'floor':
            del feats
    return step


# --------------------------------------------------------------------------- (b), (c)
def naive_aggregate(pl, x: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
    """Eq. 1 the naive way: materialise the ``[B, n, D, HW]`` residuals."""
    feats = x.flatten(2).float()  # [B, D, HW]
    residual = feats[:, None] - pl.prototypes.float()[None, :, :, None]  # [B, n, D, HW]
    return (assignment[:, :, None, :] * residual).sum(dim=-1)


def pl_fns(device: str, batch: int, dims: int, h: int, w: int, n: int):
    from procd_mm.models.prototype_learning import PrototypeLearning
    torch.manual_seed(0)
    # the residual forms compared are those of Eq. 1; the NetVLAD normalisation around them
    # is the same elementwise work for both, so it is left out here
    pl = PrototypeLearning(dims, n, normalize=False).to(device)
    x = torch.randn(batch, dims, h, w, device=device, requires_grad=True)

    def run(form):
        def fn():
            a = pl.assign(x)
            v = pl.aggregate(x, a) if form == 'matmul' else naive_aggregate(pl, x, a)
            v.square().sum().backward()
            x.grad = None
            pl.zero_grad(set_to_none=True)
        return fn
    with torch.no_grad():
        a = pl.assign(x)
        diff = (pl.aggregate(x, a) - naive_aggregate(pl, x, a)).abs().max().item()
    return dict(matmul=run('matmul'), naive=run('naive')), diff


def teacher_fns(variants: dict, data: dict):
    teacher = variants['teacher']['model']
    inputs, samples = data['inputs'], data['data_samples']

    def full():
        with torch.no_grad():
            teacher.predict(inputs, samples)

    def feat():
        with torch.no_grad():
            teacher.extract_feat(inputs)
    return dict(full_forward=full, extract_feat=feat)


# --------------------------------------------------------------------------- measuring
def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _rss_kb() -> Dict[str, int]:
    with open('/proc/self/status', encoding='ascii') as f:
        text = f.read()
    return {k: int(re.search(k + r':\s+(\d+)', text).group(1)) for k in ('VmRSS', 'VmHWM')}


def measure(fns: Dict[str, Callable], rounds: int, device: str, what: str) -> Dict[str, List]:
    """Interleaved measurements (``time`` in s or peak growth in bytes) of every fn."""
    names = list(fns)
    for name in names:  # warm-up (lazy allocations, optimizer state)
        fns[name]()
    _sync(device)
    values = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            gc.collect()
            if what == 'time':
                _sync(device)
                t0 = time.perf_counter()
                fns[name]()
                _sync(device)
                values[name].append(time.perf_counter() - t0)
            elif device.startswith('cuda'):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                fns[name]()
                torch.cuda.synchronize()
                values[name].append(torch.cuda.max_memory_allocated() - base)
            else:
                with open('/proc/self/clear_refs', 'w', encoding='ascii') as f:
                    f.write('5')
                base = _rss_kb()['VmRSS']
                fns[name]()
                values[name].append((_rss_kb()['VmHWM'] - base) * 1024)
    return values


def run_measurements(args, what: str) -> dict:
    """All three groups for one kind of measurement (``time`` or ``memory``)."""
    device = args.device
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    variants = build_variants(args.size, args.height, device, args.student)
    # boxes only for RTMDet (with masks its assigner takes mask centres, as RTMDet-Ins)
    data = make_batch(variants['student']['model'], args.batch, args.height, args.width,
                      args.num_classes, device, with_mask=args.student == 'cascade')
    steps = {name: step_fn(name, variants[name], data) for name in STEP_VARIANTS}
    b, d, h, w, n = args.pl_shape
    pl, diff = pl_fns(device, b, d, h, w, n)
    teacher = teacher_fns(variants, data)
    out = dict(step=measure(steps, args.rounds, device, what),
               path_rows=path_rows(variants['procd']['model'].prototype_branch.path),
               prototype_learning=measure(pl, args.rounds, device, what),
               teacher=measure(teacher, args.rounds, device, what), pl_max_abs_diff=diff)
    feat_shapes = [tuple(f.shape) for f in
                   variants['teacher']['model'].extract_feat(data['inputs'])]
    out['feature_shapes'] = feat_shapes
    return out


def path_rows(path) -> dict:
    """The rows the prototype path recomputed in the last step: the share of each cascade
    stage's sampled RoIs on the level, or a dense head's priors on the level and how many of
    them are positive."""
    if hasattr(path, 'stages'):
        return dict(level_share_per_stage=[rows.on_level.numel() / rows.rois.shape[0]
                                           for rows in path.stages])
    labels = path.priors.target[0] if isinstance(path.priors.target, tuple) \
        else path.priors.target
    positive = (labels >= 0) & (labels < path.head.num_classes)
    return dict(level_priors=int(labels.numel()), level_positives=int(positive.sum()))


def _child_memory(args) -> dict:
    """Run the memory measurements in a fresh interpreter with mmap-backed allocations."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', PYTHONUNBUFFERED='1')
    cmd = [sys.executable, osp.abspath(__file__), '--child-memory',
           *args.argv_forward]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f'memory child failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}')
    line = [ln for ln in res.stdout.splitlines() if ln.startswith('{')][-1]
    return json.loads(line)


def _median(values):
    return statistics.median(values) if values else None


def _ratio(a, b):
    return None if a is None or not b else a / b


def build_report(args, times: dict, memory: dict) -> dict:
    med_t = {g: {k: _median(v) for k, v in times[g].items()}
             for g in ('step', 'prototype_learning', 'teacher')}
    med_m = {g: {k: _median(v) for k, v in memory[g].items()}
             for g in ('step', 'prototype_learning', 'teacher')}
    step = {}
    for name in STEP_VARIANTS:
        step[name] = dict(time_s=med_t['step'][name], peak_mem_bytes=med_m['step'][name],
                          time_vs_floor=_ratio(med_t['step'][name], med_t['step']['floor']),
                          mem_vs_floor=_ratio(med_m['step'][name], med_m['step']['floor']))
    t_ratio = _ratio(med_t['step']['procd'], med_t['step']['cwd'])
    m_ratio = _ratio(med_m['step']['procd'], med_m['step']['cwd'])
    pl = {k: dict(time_s=med_t['prototype_learning'][k],
                  peak_mem_bytes=med_m['prototype_learning'][k]) for k in ('matmul', 'naive')}
    teacher = {k: dict(time_s=med_t['teacher'][k], peak_mem_bytes=med_m['teacher'][k])
               for k in ('full_forward', 'extract_feat')}
    b, d, h, w, n = args.pl_shape
    return dict(
        setup=dict(device=args.device, student=args.student, size=args.size, batch=args.batch,
                   image=[args.height, args.width], rounds=args.rounds,
                   threads=torch.get_num_threads(), torch=torch.__version__,
                   timing='median of interleaved rounds, wall clock (cuda synchronized)',
                   memory=('torch.cuda.max_memory_allocated growth during the call'
                           if args.device.startswith('cuda') else
                           'peak RSS growth during the call (VmHWM - VmRSS before, peak reset '
                           'via /proc/self/clear_refs) in a fresh child process with '
                           'MALLOC_MMAP_THRESHOLD_=65536'),
                   feature_shapes=times['feature_shapes']),
        step=step,
        procd_vs_cwd=dict(time=t_ratio, memory=m_ratio, target=TARGET_RATIO,
                          path_rows=times['path_rows'],
                          time_ok=t_ratio is not None and t_ratio <= TARGET_RATIO,
                          memory_ok=m_ratio is not None and m_ratio <= TARGET_RATIO),
        prototype_learning=dict(shape=dict(B=b, D=d, H=h, W=w, n=n), **pl,
                                naive_vs_matmul_time=_ratio(pl['naive']['time_s'],
                                                            pl['matmul']['time_s']),
                                naive_vs_matmul_mem=_ratio(pl['naive']['peak_mem_bytes'],
                                                           pl['matmul']['peak_mem_bytes']),
                                max_abs_diff=times['pl_max_abs_diff']),
        teacher=dict(**teacher, full_vs_extract_time=_ratio(
            teacher['full_forward']['time_s'], teacher['extract_feat']['time_s']),
            full_vs_extract_mem=_ratio(teacher['full_forward']['peak_mem_bytes'],
                                       teacher['extract_feat']['peak_mem_bytes'])),
        raw=dict(time=times, memory=memory))


def _fmt(v, unit=''):
    if v is None:
        return '-'
    if unit == 'MiB':
        return f'{v / 2**20:.1f}'
    if unit == 'ms':
        return f'{1e3 * v:.1f}'
    return f'{v:.2f}'


def _describe_rows(rows: dict) -> str:
    if 'level_share_per_stage' in rows:
        return ('sampled RoIs on the path\'s level per stage: '
                + ', '.join(f'{100 * v:.1f}%' for v in rows['level_share_per_stage']))
    return (f"{rows['level_positives']} positive of the {rows['level_priors']} priors on the "
            "path's level")


def format_report(r: dict) -> str:
    s = r['setup']
    lines = [f"device {s['device']}, {s['student']} student, models {s['size']}, batch "
             f"{s['batch']}, image "
             f"{s['image'][0]}x{s['image'][1]}, {s['rounds']} rounds, {s['threads']} threads",
             '', '| step | time (ms) | x floor | peak mem (MiB) | x floor |',
             '|---|---|---|---|---|']
    for name, v in r['step'].items():
        lines.append(f"| {name} | {_fmt(v['time_s'], 'ms')} | {_fmt(v['time_vs_floor'])} | "
                     f"{_fmt(v['peak_mem_bytes'], 'MiB')} | {_fmt(v['mem_vs_floor'])} |")
    c = r['procd_vs_cwd']
    lines += ['', f"ProC-KD / CWD: time {_fmt(c['time'])}x ({'ok' if c['time_ok'] else 'FAILS'}"
              f" <= {c['target']}), memory {_fmt(c['memory'])}x "
              f"({'ok' if c['memory_ok'] else 'FAILS'} <= {c['target']}); "
              f"{_describe_rows(c['path_rows'])}", '']
    p = r['prototype_learning']
    lines += [f"PrototypeLearning fwd+bwd at B={p['shape']['B']} D={p['shape']['D']} "
              f"{p['shape']['H']}x{p['shape']['W']} n={p['shape']['n']}: matmul "
              f"{_fmt(p['matmul']['time_s'], 'ms')} ms / "
              f"{_fmt(p['matmul']['peak_mem_bytes'], 'MiB')}"
              f" MiB, naive {_fmt(p['naive']['time_s'], 'ms')} ms / "
              f"{_fmt(p['naive']['peak_mem_bytes'], 'MiB')} MiB (naive/matmul: time "
              f"{_fmt(p['naive_vs_matmul_time'])}x, memory {_fmt(p['naive_vs_matmul_mem'])}x; "
              f"max |diff| {p['max_abs_diff']:.2e})"]
    t = r['teacher']
    lines += [f"Teacher: full forward {_fmt(t['full_forward']['time_s'], 'ms')} ms / "
              f"{_fmt(t['full_forward']['peak_mem_bytes'], 'MiB')} MiB, extract_feat "
              f"{_fmt(t['extract_feat']['time_s'], 'ms')} ms / "
              f"{_fmt(t['extract_feat']['peak_mem_bytes'], 'MiB')} MiB (full/extract: time "
              f"{_fmt(t['full_vs_extract_time'])}x, memory {_fmt(t['full_vs_extract_mem'])}x)"]
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Cost of student-only vs CWD vs ProC-KD')
    p.add_argument('--student', choices=['cascade', 'rtmdet'], default='cascade',
                   help='the Cascade Mask R-CNN student of the paper, or a one-stage RTMDet')
    p.add_argument('--size', choices=['tiny', 'full'], default='tiny',
                   help='tiny synthetic models, or Swin-T (RTMDet-s) student / Swin-B teacher')
    p.add_argument('--height', type=int, default=256)
    p.add_argument('--width', type=int, default=512)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--num-classes', type=int, default=4, help='classes of the fake boxes')
    p.add_argument('--pl-shape', type=int, nargs=5, default=[2, 256, 32, 64, 72],
                   metavar=('B', 'D', 'H', 'W', 'N'),
                   help='PrototypeLearning input (default: P5 of a 1024x2048 image)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads (0: torch default); 1 by default, as 2 OpenMP threads '
                   'spin-wait badly on a shared 2-core machine')
    p.add_argument('--out', default='work_dirs/benchmark/benchmark_distill.json')
    p.add_argument('--child-memory', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    raw = list(sys.argv[1:] if argv is None else argv)
    args.argv_forward = [a for a in raw if a != '--child-memory']
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child_memory:
        print(json.dumps(run_measurements(args, 'memory')))
        return {}
    times = run_measurements(args, 'time')
    memory = (run_measurements(args, 'memory') if args.device.startswith('cuda')
              else _child_memory(args))
    report = build_report(args, times, memory)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    table = format_report(report)
    with open(osp.splitext(args.out)[0] + '.md', 'w', encoding='utf-8') as f:
        f.write(table)
    print(table)
    print(f'report written to {args.out}')
    return report


if __name__ == '__main__':
    main()

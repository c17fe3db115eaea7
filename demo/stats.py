"""Statistics and tables of the demo: per-seed values, mean, standard deviation, paired
differences between methods, prototype usage, and the Markdown tables of README.md and
docs/demo.md (generated from ``summary.json``, so that the documents can be checked
against it).
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from .options import DOMAINS, METHOD_NAMES

#: Paired comparisons reported per seed: ``(a, b)`` means "a − b".
PAIRS = (('procd', 'student'), ('procd', 'cwd'), ('cwd', 'student'))

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(dof: int) -> float:
    """Two-sided 95 % quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError('t quantile needs at least 1 degree of freedom')
    return _T95[dof - 1] if dof <= len(_T95) else 1.960


def describe(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """Mean, sample standard deviation (n − 1; ``None`` for one value), min and max."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return dict(n=0, mean=None, std=None, min=None, max=None)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return dict(n=n, mean=mean, std=std, min=min(values), max=max(values))


def paired(a: Dict[str, float], b: Dict[str, float]) -> dict:
    """Per-seed differences ``a − b`` over the seeds both have, with their statistics.

    ``positive`` / ``negative`` count the seeds where ``a`` is above / below ``b``;
    ``ci95`` is the t interval of the mean difference (``None`` below two seeds).
    """
    seeds = [s for s in a if s in b]
    diffs = {s: a[s] - b[s] for s in seeds}
    out = dict(seeds=diffs, **describe(list(diffs.values())))
    out['positive'] = sum(d > 0 for d in diffs.values())
    out['negative'] = sum(d < 0 for d in diffs.values())
    if out['std'] is not None:
        half = t95(out['n'] - 1) * out['std'] / math.sqrt(out['n'])
        out['ci95'] = [out['mean'] - half, out['mean'] + half]
    else:
        out['ci95'] = None
    return out


def summarize(results: Dict[str, Dict[str, Dict[int, float]]],
              extras: Optional[Dict[str, Dict[str, dict]]] = None) -> dict:
    """``summary.json`` from ``{method: {domain: {seed: mAP50}}}``.

    Shape: ``{method: {domain: {seeds: {seed: mAP50}, mean, std, min, max, n,
    minus: {other method: paired(method, other)}, ...extras}}}``; ``minus`` holds
    the pairs of :data:`PAIRS` whose first method is this one (e.g.
    ``summary['procd']['clear']['minus']['cwd']`` is ProC-KD − CWD per seed).
    ``extras[method][domain]`` (e.g. prototype usage, detection counts) is merged in.
    """
    summary = {}
    for method, per_domain in results.items():
        summary[method] = {}
        for domain, per_seed in per_domain.items():
            seeds = {str(s): float(v) for s, v in sorted(per_seed.items(), key=lambda kv:
                                                          int(kv[0]))}
            summary[method][domain] = dict(seeds=seeds, **describe(list(seeds.values())))
    for a, b in PAIRS:
        if a not in summary or b not in summary:
            continue
        for domain in summary[a]:
            if domain in summary[b]:
                summary[a][domain].setdefault('minus', {})[b] = paired(
                    summary[a][domain]['seeds'], summary[b][domain]['seeds'])
    for method, per_domain in (extras or {}).items():
        for domain, extra in per_domain.items():
            if method in summary and domain in summary[method]:
                summary[method][domain].update(extra)
    return summary


# --------------------------------------------------------------------------- prototype usage
def entropy_bits(counts: Sequence[float]) -> float:
    """Shannon entropy (bits) of the distribution proportional to ``counts``."""
    p = np.asarray(counts, dtype=np.float64)
    total = p.sum()
    if total <= 0:
        return 0.0
    p = p[p > 0] / total
    return float(-(p * np.log2(p)).sum())


def prototype_usage(assignments: Sequence[np.ndarray]) -> dict:
    """Usage of the prototypes over a set of images.

    Args:
        assignments: per image, the soft assignment ``[n, h, w]`` (each position sums to 1).
    Returns:
        ``n`` prototypes; ``used``: how many are the arg-max at one position at least;
        ``entropy_bits``: entropy of the arg-max histogram over all positions (``log2 n``
        when all are used equally, 0 when one takes every position); ``effective``:
        ``2 ** entropy_bits``; ``used_per_image``: mean number of arg-max prototypes per
        image; ``soft_entropy_bits``: mean entropy of the soft assignment at a position;
        ``histogram``: arg-max count per prototype; ``positions``: positions counted.
    """
    n = int(assignments[0].shape[0])
    hist = np.zeros(n, np.int64)
    per_image, soft = [], []
    for a in assignments:
        a = np.asarray(a, dtype=np.float64).reshape(n, -1)
        arg = a.argmax(axis=0)
        hist += np.bincount(arg, minlength=n)
        per_image.append(len(np.unique(arg)))
        p = np.clip(a, 1e-12, None)
        soft.append(float((-(p * np.log2(p)).sum(axis=0)).mean()))
    h = entropy_bits(hist)
    return dict(n=n, used=int((hist > 0).sum()), entropy_bits=h, max_bits=math.log2(n),
                effective=2.0 ** h, used_per_image=float(np.mean(per_image)),
                soft_entropy_bits=float(np.mean(soft)), histogram=hist.tolist(),
                positions=int(hist.sum()))


def usage_summary(per_seed: Dict[int, dict]) -> dict:
    """``{seeds: {seed: usage}, used: describe, entropy_bits: describe}`` over seeds."""
    seeds = {str(s): u for s, u in sorted(per_seed.items())}
    out = dict(seeds=seeds)
    for key in ('used', 'entropy_bits', 'effective', 'used_per_image', 'soft_entropy_bits'):
        out[key] = describe([u[key] for u in seeds.values()])
    out['n'] = next(iter(seeds.values()))['n'] if seeds else None
    return out


# --------------------------------------------------------------------------- tables
def _f(value: Optional[float], signed: bool = False) -> str:
    if value is None:
        return '–'
    return f'{value:+.1f}' if signed else f'{value:.1f}'


def _seed_list(entry: dict, signed: bool = False) -> str:
    return ', '.join(_f(v, signed) for v in entry['seeds'].values())


def _mean_std(entry: dict, signed: bool = False) -> str:
    std = '' if entry['std'] is None else f' ± {entry["std"]:.1f}'
    return _f(entry['mean'], signed) + std


def methods_of(summary: dict) -> List[str]:
    """The methods of a summary, in its order (its ``diagnostics`` left out)."""
    return [m for m in summary if m in METHOD_NAMES]


def seeds_of(summary: dict) -> List[str]:
    return list(summary[methods_of(summary)[0]][DOMAINS[0]]['seeds'])


def results_table(summary: dict, beta: Optional[float] = None) -> str:
    """The demo's Markdown table: per-seed mAP50, mean ± std, then the paired differences.

    A difference row ends with how many seeds it is positive in (``k/n > 0``).
    """
    seeds = seeds_of(summary)
    fog = f'foggy β={beta:g}' if beta is not None else 'foggy'
    head = (f'| mAP50 (%) | clear, seeds {",".join(seeds)} | clear mean ± std '
            f'| {fog}, seeds {",".join(seeds)} | foggy mean ± std |')
    lines = [head, '|---|---|---|---|---|']
    for method in methods_of(summary):
        cells = []
        for domain in DOMAINS:
            entry = summary[method][domain]
            cells += [_seed_list(entry), _mean_std(entry)]
        lines.append(f'| {METHOD_NAMES.get(method, method)} | ' + ' | '.join(cells) + ' |')
    for a, b in PAIRS:
        if a not in summary or b not in summary:
            continue
        cells = []
        for domain in DOMAINS:
            entry = summary[a][domain]['minus'][b]
            cells += [_seed_list(entry, True),
                      f'{_mean_std(entry, True)} ({entry["positive"]}/{entry["n"]} > 0)']
        name = f'{METHOD_NAMES[a]} − {METHOD_NAMES[b]}'
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def usage_table(summary: dict) -> str:
    """Prototype usage of the ProC-KD runs (arg-max prototypes used of n, entropy in bits)."""
    lines = ['| P5 of | split | used of n, per seed | entropy (bits), per seed | '
             'max (bits) |', '|---|---|---|---|---|']
    for domain in DOMAINS:
        usage = summary.get('procd', {}).get(domain, {}).get('prototypes')
        if not usage:
            continue
        for path in (p for p in ('teacher', 'student') if p in usage):
            u = usage[path]
            used = ', '.join(f'{s["used"]}/{s["n"]}' for s in u['seeds'].values())
            ent = ', '.join(f'{s["entropy_bits"]:.2f}' for s in u['seeds'].values())
            lines.append(f'| {path} | {domain} | {used} | {ent} | {math.log2(u["n"]):.2f} |')
    return '\n'.join(lines) + '\n'


def holds_in_every_seed(summary: dict) -> List[str]:
    """Sentences for the paired comparisons whose sign is the same in every seed."""
    out = []
    for a, b in PAIRS:
        if a not in summary or b not in summary:
            continue
        for domain in DOMAINS:
            d = summary[a][domain]['minus'][b]
            if d['n'] and d['positive'] == d['n']:
                out.append(f'{METHOD_NAMES[a]} > {METHOD_NAMES[b]} on {domain} in all '
                           f'{d["n"]} seeds')
            elif d['n'] and d['negative'] == d['n']:
                out.append(f'{METHOD_NAMES[a]} < {METHOD_NAMES[b]} on {domain} in all '
                           f'{d["n"]} seeds')
    return out


def run_to_run(first: dict, second: dict) -> dict:
    """Cell-by-cell differences (second − first) between two runs' summaries.

    ``{method: {domain: {seeds: {seed: diff}, max_abs, mean}}}`` plus ``max_abs`` over
    every cell.
    """
    out, cells = {}, []
    for method in methods_of(first):
        if method not in second:
            continue
        out[method] = {}
        for domain in DOMAINS:
            a, b = first[method][domain]['seeds'], second[method][domain]['seeds']
            diffs = {s: b[s] - a[s] for s in a if s in b}
            cells += list(diffs.values())
            out[method][domain] = dict(
                seeds=diffs, max_abs=max((abs(d) for d in diffs.values()), default=None),
                mean=second[method][domain]['mean'] - first[method][domain]['mean'])
    out['max_abs'] = max((abs(d) for d in cells), default=None)
    return out


def spread_table(first: dict, second: dict, names=('run 1', 'run 2')) -> str:
    """Two runs side by side: mean ± std of each, and the largest per-seed difference."""
    spread = run_to_run(first, second)
    lines = [f'| mAP50 (%) | clear, {names[0]} | clear, {names[1]} | largest per-seed '
             f'change | foggy, {names[0]} | foggy, {names[1]} | largest per-seed change |',
             '|---|---|---|---|---|---|---|']
    for method in methods_of(first):
        if method not in second:
            continue
        cells = []
        for domain in DOMAINS:
            cells += [_mean_std(first[method][domain]), _mean_std(second[method][domain]),
                      _f(spread[method][domain]['max_abs'])]
        lines.append(f'| {METHOD_NAMES.get(method, method)} | ' + ' | '.join(cells) + ' |')
    for a, b in PAIRS:
        if a not in first or b not in first or a not in second or b not in second:
            continue
        cells = []
        for domain in DOMAINS:
            d1, d2 = first[a][domain]['minus'][b], second[a][domain]['minus'][b]
            cells += [f'{_mean_std(d1, True)} ({d1["positive"]}/{d1["n"]} > 0)',
                      f'{_mean_std(d2, True)} ({d2["positive"]}/{d2["n"]} > 0)', '']
        lines.append(f'| {METHOD_NAMES[a]} − {METHOD_NAMES[b]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def paired_table(summary: dict) -> str:
    """The study's table: per method mean ± std, then per pair the paired mean difference,
    its 95 % t interval over seeds and the seeds above 0 (``k/n``)."""
    fog = 'foggy'
    lines = [f'| mAP50 (%) | clear: mean ± std, or paired mean [95 % CI] | seeds > 0 '
             f'| {fog}: mean ± std, or paired mean [95 % CI] | seeds > 0 |',
             '|---|---|---|---|---|']
    for method in methods_of(summary):
        cells = []
        for domain in DOMAINS:
            cells += [_mean_std(summary[method][domain]), '']
        lines.append(f'| {METHOD_NAMES[method]} | ' + ' | '.join(cells) + ' |')
    for a, b in PAIRS:
        if a not in summary or b not in summary:
            continue
        cells = []
        for domain in DOMAINS:
            d = summary[a][domain]['minus'][b]
            ci = '' if d['ci95'] is None else f' [{d["ci95"][0]:+.1f}, {d["ci95"][1]:+.1f}]'
            cells += [_f(d['mean'], True) + ci, f'{d["positive"]}/{d["n"]}']
        lines.append(f'| {METHOD_NAMES[a]} − {METHOD_NAMES[b]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def diagnostics(runs: Dict[str, dict], teacher: Optional[dict],
                probe: Optional[dict]) -> dict:
    """The ``diagnostics`` of ``summary.json``: the teacher (its source val mAP50), the
    linear probe, and per method over seeds the gradient norms at iteration 0, the
    fraction of clipped steps and the flatness of the training loss at the end."""
    per_method: Dict[str, Dict[str, list]] = {}
    for run in sorted(runs.values(), key=lambda r: r['seed']):
        m = per_method.setdefault(run['method'], {})
        for key, value in run['gradients'].items():
            m.setdefault(f'grad_{key}', []).append(value)
        m.setdefault('clipped', []).append(100.0 * run['clipping']['clipped'])
        m.setdefault('loss_change_at_end', []).append(100.0 * run['loss_flatness']['change'])
    methods = {method: {key: describe(values) for key, values in m.items()}
               for method, m in per_method.items()}
    for method, run in ((r['method'], r) for r in runs.values()):
        methods[method]['clip_max_norm'] = run['clipping']['max_norm']
    return dict(teacher=teacher, probe=probe, methods=methods,
                teacher_transfers=teacher_transfers(teacher, probe))


#: the regime's rule on the teacher alone (docs/demo.md): on the clear target val split, in
#: its own label space, it keeps at least this fraction of its source val mAP50
TRANSFER_FRACTION = 0.5


def teacher_transfers(teacher: Optional[dict], probe: Optional[dict]) -> Optional[bool]:
    """Whether the teacher meets the transfer rule (None: not measured)."""
    on_target = (probe or {}).get('teacher_on_target')
    if not teacher or not on_target:
        return None
    return on_target['clear'] >= TRANSFER_FRACTION * teacher['source_map50']


def diagnostics_table(summary: dict) -> str:
    """The diagnostics as Markdown: teacher, probe, gradients and clipping per method."""
    diag = summary.get('diagnostics') or {}
    lines = []
    teacher = diag.get('teacher')
    if teacher:
        lines.append(f'Teacher: {teacher["source_map50"]:.1f} mAP50 on its source val split '
                     f'({teacher["iters"]} iterations on {teacher["source_train"]} images).\n')
    probe = diag.get('probe')
    if probe:
        lines += ['| linear probe on P5 (student classes) | val accuracy (%) | balanced (%) |',
                  '|---|---|---|']
        for key, name in (('teacher', 'trained teacher'), ('random_teacher', 'random teacher'),
                          ('student', f'student alone (seed {probe["student_seed"]})')):
            lines.append(f'| {name} | {probe[key]["accuracy"]:.1f} '
                         f'| {probe[key]["balanced_accuracy"]:.1f} |')
        lines.append('')
        transfer = probe.get('teacher_on_target')
        if transfer:
            verdict = {True: 'met', False: 'not met', None: 'not measured'}[
                teacher_transfers(teacher, probe)]
            lines.append(f'Teacher on the target val split, in its own label space: '
                         f'{transfer["clear"]:.1f} mAP50 clear, {transfer["foggy"]:.1f} '
                         f'foggy; the transfer rule (clear at least '
                         f'{TRANSFER_FRACTION:.0%} of its source mAP50) is {verdict}.\n')
    methods = diag.get('methods') or {}
    if methods:
        lines += ['| method | ‖∇L_stu‖ at it. 0 | ‖∇L_emb‖ / ‖∇L_stu‖ | ‖∇L_pro‖ / ‖∇L_stu‖ '
                  '| steps clipped (%) | clip max_norm | loss change over the last 10 % (%) |',
                  '|---|---|---|---|---|---|---|']
        for method in METHOD_NAMES:
            if method not in methods:
                continue
            m = methods[method]
            cells = [_mean_std(m[key], key == 'loss_change_at_end') if key in m else '–'
                     for key in ('grad_stu', 'grad_emb_over_stu', 'grad_pro_over_stu',
                                 'clipped')]
            cells.insert(4, f'{m["clip_max_norm"]:g}')
            cells.append(_mean_std(m['loss_change_at_end'], True))
            lines.append(f'| {METHOD_NAMES[method]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'

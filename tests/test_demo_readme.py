"""Every number of the demo tables in README.md and docs/demo.md is the reported summary it
came from: ``make demo``'s ``summary.json`` (kept as docs/demo_summary.json), the study's
``study_summary.json`` (docs/demo_study_summary.json) and the disjoint-label-space
experiment (docs/demo_disjoint_summary.json, and its earlier version with that version's
rerun), and the RTMDet student's (docs/demo_rtmdet_summary.json)."""
import json
import os.path as osp
import re

import pytest

from demo.__main__ import STUDY_SEEDS
from demo.options import DOMAINS, DemoOptions
from demo.stats import (
    METHOD_NAMES,
    PAIRS,
    diagnostics_table,
    methods_of,
    paired_table,
    results_table,
    spread_table,
    usage_table,
)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = osp.join(REPO, 'docs')
#: The fog level of the disjoint experiment's earlier version (the demo's default before the
#: pilot of the paper regime chose 0.01).
DISJOINT_BETA = 0.005


def _read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def _summary(name):
    return json.loads(_read(osp.join(DOCS, name)))


@pytest.fixture(scope='module')
def summary():
    return _summary('demo_summary.json')


@pytest.fixture(scope='module')
def study():
    return _summary('demo_study_summary.json')


def _table_rows(text: str, header_start: str):
    """The rows (lists of cells) of the Markdown table whose header starts so."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in line.strip().strip('|').split('|')])
    return rows


def _numbers(cell: str):
    return [float(x) for x in re.findall(r'[+-]?\d+\.\d', cell)]


def _r(x):
    return round(x + 0.0, 1)


@pytest.mark.parametrize('doc', ['README.md', 'docs/demo.md'])
def test_demo_table_is_the_reported_summary(doc, summary):
    text = _read(osp.join(REPO, doc))
    # the table as the demo prints it (with the fog level of `make demo`'s defaults)
    assert results_table(summary, DemoOptions().beta) in text
    # and, independently of that formatter, cell by cell
    seeds = ','.join(map(str, DemoOptions().seeds))
    rows = _table_rows(text, f'| mAP50 (%) | clear, seeds {seeds}')  # the first such table
    names = {v: k for k, v in METHOD_NAMES.items()}
    seen = set()
    for name, clear_seeds, clear_stat, foggy_seeds, foggy_stat in rows:
        if ' − ' in name:
            a, b = (names[n] for n in name.split(' − '))
            entries = [summary[a][d]['minus'][b] for d in DOMAINS]
        else:
            entries = [summary[names[name]][d] for d in DOMAINS]
        seen.add(name)
        for entry, seeds_cell, stat_cell in zip(entries, (clear_seeds, foggy_seeds),
                                                (clear_stat, foggy_stat)):
            assert _numbers(seeds_cell) == [_r(v) for v in entry['seeds'].values()], name
            stats = _numbers(stat_cell)
            assert stats[:2] == [_r(entry['mean']), _r(entry['std'])], name
            if 'positive' in entry:
                assert f'({entry["positive"]}/{entry["n"]} > 0)' in stat_cell
    assert seen == {METHOD_NAMES[m] for m in methods_of(summary)} | {
        f'{METHOD_NAMES[a]} − {METHOD_NAMES[b]}' for a, b in PAIRS}


@pytest.mark.parametrize('doc', ['README.md', 'docs/demo.md'])
def test_study_tables_are_the_study_summary(doc, study):
    text = _read(osp.join(REPO, doc))
    assert paired_table(study) in text
    rows = _table_rows(text, '| mAP50 (%) | clear: mean ± std, or paired mean [95 % CI]')
    names = {v: k for k, v in METHOD_NAMES.items()}
    for name, clear, clear_pos, foggy, foggy_pos in rows:
        if ' − ' not in name:
            continue
        a, b = (names[n] for n in name.split(' − '))
        for domain, cell, pos in zip(DOMAINS, (clear, foggy), (clear_pos, foggy_pos)):
            d = study[a][domain]['minus'][b]
            assert _numbers(cell) == [_r(d['mean']), _r(d['ci95'][0]), _r(d['ci95'][1])], name
            assert pos == f'{d["positive"]}/{d["n"]}'
    assert diagnostics_table(study) in _read(osp.join(DOCS, 'demo.md'))


def test_study_summary_layout(study):
    assert list(study['student']['clear']['seeds']) == STUDY_SEEDS.split(',')
    for a, b in PAIRS:
        for domain in DOMAINS:
            d = study[a][domain]['minus'][b]
            assert {'mean', 'ci95', 'positive', 'n'} <= set(d) and d['n'] == 8
            assert d['ci95'][0] <= d['mean'] <= d['ci95'][1]
    diag = study['diagnostics']
    assert diag['teacher']['source_map50'] > 0 and set(diag['probe']) >= {
        'teacher', 'random_teacher', 'student'}
    assert set(diag['methods']) == set(METHOD_NAMES)


def test_demo_md_prototype_usage_and_the_disjoint_experiment(summary):
    text = _read(osp.join(DOCS, 'demo.md'))
    assert usage_table(summary) in text
    disjoint = _summary('demo_disjoint_summary.json')
    assert results_table(disjoint, DemoOptions().beta) in text
    assert paired_table(disjoint) in text and diagnostics_table(disjoint) in text
    earlier = _summary('demo_disjoint_summary_earlier-version.json')
    assert results_table(earlier, DISJOINT_BETA) in text
    rerun = _summary('demo_disjoint_summary_earlier-version_rerun.json')
    assert spread_table(earlier, rerun) in text


def test_summary_has_the_documented_seeds(summary):
    seeds = [int(s) for s in summary['student']['clear']['seeds']]
    assert seeds == list(DemoOptions().seeds) and len(seeds) >= 4


def test_demo_md_rtmdet_tables_are_the_kept_summary():
    text = _read(osp.join(DOCS, 'demo.md'))
    rtmdet = _summary('demo_rtmdet_summary.json')
    for table in (results_table(rtmdet, DemoOptions().beta), paired_table(rtmdet),
                  diagnostics_table(rtmdet), usage_table(rtmdet)):
        assert table in text
    assert set(rtmdet['procd']['clear']['prototypes']) == {'teacher'}

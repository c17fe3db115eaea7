"""Every number of the demo tables in README.md and docs/demo.md is the reported
``summary.json`` (kept as docs/demo_summary.json) it came from."""
import json
import os.path as osp
import re

import pytest

from demo.options import DemoOptions
from demo.stats import METHOD_NAMES, PAIRS, results_table, spread_table, usage_table

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUMMARY = osp.join(REPO, 'docs', 'demo_summary.json')
RERUN = osp.join(REPO, 'docs', 'demo_summary_rerun.json')


def _read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


@pytest.fixture(scope='module')
def summary():
    return json.loads(_read(SUMMARY))


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
    rows = _table_rows(text, '| mAP50 (%) | clear, seeds')
    names = {v: k for k, v in METHOD_NAMES.items()}
    seen = set()
    for name, clear_seeds, clear_stat, foggy_seeds, foggy_stat in rows:
        if ' − ' in name:
            a, b = (names[n] for n in name.split(' − '))
            entries = [summary[a][d]['minus'][b] for d in ('clear', 'foggy')]
        else:
            entries = [summary[names[name]][d] for d in ('clear', 'foggy')]
        seen.add(name)
        for entry, seeds_cell, stat_cell in zip(entries, (clear_seeds, foggy_seeds),
                                                (clear_stat, foggy_stat)):
            assert _numbers(seeds_cell) == [_r(v) for v in entry['seeds'].values()], name
            stats = _numbers(stat_cell)
            assert stats[:2] == [_r(entry['mean']), _r(entry['std'])], name
            if 'positive' in entry:
                assert f'({entry["positive"]}/{entry["n"]} > 0)' in stat_cell
    assert seen == {METHOD_NAMES[m] for m in summary} | {
        f'{METHOD_NAMES[a]} − {METHOD_NAMES[b]}' for a, b in PAIRS}


def test_demo_md_prototype_usage_and_rerun(summary):
    text = _read(osp.join(REPO, 'docs', 'demo.md'))
    assert usage_table(summary) in text
    rerun = json.loads(_read(RERUN))
    assert spread_table(summary, rerun) in text


def test_summary_has_the_documented_seeds(summary):
    seeds = [int(s) for s in summary['student']['clear']['seeds']]
    assert seeds == list(DemoOptions().seeds) and len(seeds) >= 4

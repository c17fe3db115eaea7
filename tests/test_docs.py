"""Every repository path the README and docs/ name exists; the README's layout is the tree."""
import glob
import os.path as osp
import re

import pytest

from tests.conftest import REPO

# docs/reliability.md names missing files on purpose (its bad-input commands); its own test
# runs every one of its rows
DOCS = ['README.md'] + sorted(osp.relpath(p, REPO) for p in glob.glob(f'{REPO}/docs/*.md')
                             if not p.endswith('reliability.md'))
# a path below one of the repository's top-level folders, e.g. configs/x.py or tools/a/b.py
PATH = re.compile(r'(?<![\w./-])((?:configs|tools|docs|demo|procd_mm|tests|requirements)'
                  r'/[\w./{},-]*[\w}])')


def expand(path: str):
    """``a-{x,y}.py`` -> ``a-x.py``, ``a-y.py`` (brace lists as the README writes rows)."""
    match = re.search(r'\{([^{}]*)\}', path)
    if not match:
        return [path]
    items = match.group(1).split(',')
    if len(items) == 1 and '..' in items[0]:  # {01..10}
        lo, hi = items[0].split('..')
        items = [str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)]
    return [p for item in items
            for p in expand(path[:match.start()] + item + path[match.end():])]


@pytest.mark.parametrize('doc', DOCS)
def test_every_named_path_exists(doc):
    text = open(osp.join(REPO, doc), encoding='utf-8').read()
    named = {p for raw in PATH.findall(text) if '...' not in raw
             for p in expand(raw.rstrip('.'))}
    assert named, f'{doc} names no repository path'
    missing = sorted(p for p in named
                     if not osp.exists(osp.join(REPO, p)) and not glob.glob(osp.join(REPO, p)))
    assert not missing, f'{doc} names paths that do not exist: {missing}'


def test_readme_layout_lists_every_top_level_folder():
    text = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    layout = text[text.index('## Layout'):]
    block = layout[layout.index('```') + 3:]
    block = block[:block.index('```')]
    listed = {line.split()[0].rstrip('/') for line in block.splitlines()
              if line.strip() and not line.startswith(' ')}
    folders = {d for d in next(__import__('os').walk(REPO))[1]
               if not d.startswith('.') and d not in ('work_dirs', 'data', 'checkpoints')
               and not d.endswith('.egg-info') and d != '__pycache__'}
    assert listed == folders

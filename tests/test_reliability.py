"""The sweep of bad inputs of docs/reliability.md: every row of its table, run through the tools.

Each row must exit with status 1, end stderr with one ``error: ...`` line holding the expected
text, print no traceback, never mention ``weights_only`` and leave every file and folder of
the sandbox (an existing work dir among them) as it was. The tools run as forked children of
one interpreter that imported the stack once (``tests/tool_zygote.py``).
"""
import glob
import hashlib
import json
import os
import os.path as osp
import re
import shlex
import shutil
from typing import NamedTuple

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.conftest import REPO, data_options
from tests.tool_zygote import tool_runner

TABLE = osp.join(REPO, 'docs', 'reliability.md')
STUDENT_TINY = f'{REPO}/configs/synthetic/student_tiny.py'
PROCD_TINY = f'{REPO}/configs/synthetic/procd_tiny.py'


class Row(NamedTuple):
    case: str
    command: str
    expected: str


def read_table(path: str = TABLE) -> list:
    """The rows of the table under "## The sweep"."""
    text = open(path, encoding='utf-8').read().split('## The sweep', 1)[1]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 3 or cells[0] in ('case', '---') or set(cells[0]) <= {'-'}:
            continue
        rows.append(Row(cells[0], cells[1].strip('`'), cells[2].strip('`')))
    return rows


ROWS = read_table()


def test_table_is_read():
    assert len(ROWS) >= 40
    assert len({r.case for r in ROWS}) == len(ROWS), 'case names must be unique'
    assert all(r.command.startswith('tools/') and r.expected for r in ROWS)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def _save(obj, path):
    torch.save(obj, path)
    return str(path)


@pytest.fixture(scope='module')
def sandbox(synthetic_root, teacher_ckpt, tmp_path_factory):
    """Every file the table names, in one folder (``{sandbox}``)."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmrazor.registry import MODELS as RAZOR_MODELS

    box = tmp_path_factory.mktemp('reliability')
    names = {'sandbox': str(box), 'root': synthetic_root, 'teacher': teacher_ckpt,
             'new': str(box / 'new_work_dir')}
    meta = {'iter': 2, 'epoch': 0}

    init_default_scope('mmdet')
    torch.manual_seed(0)
    student = DET_MODELS.build(Config.fromfile(STUDENT_TINY).model).state_dict()
    teacher = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    names['student'] = _save({'meta': meta, 'state_dict': student}, box / 'student_iter_2.pth')
    names['weights'] = _save(student, box / 'student_weights.pth')
    two_groups = {'state': {}, 'param_groups': [{'params': [0, 1]}, {'params': [2]}]}
    names['other_optimizer'] = _save({'meta': meta, 'state_dict': student,
                                      'optimizer': two_groups}, box / 'other_optimizer.pth')
    names['teacher_run'] = _save({'meta': meta, 'state_dict': teacher}, box / 'teacher_iter_2.pth')
    procd = Config.fromfile(PROCD_TINY).model
    procd.teacher_ckpt = teacher_ckpt
    distiller = RAZOR_MODELS.build(procd).state_dict()
    names['distiller'] = _save({'meta': meta, 'state_dict': distiller}, box / 'procd_iter_2.pth')
    # checkpoints that say which classes they were trained on (mmengine's meta.dataset_meta)
    names['student_classes'] = _save(
        {'meta': dict(meta, dataset_meta=dict(classes=('person', 'rider', 'motorcycle',
                                                        'bicycle'))), 'state_dict': student},
        box / 'student_classes.pth')
    names['student_other_classes'] = _save(
        {'meta': dict(meta, dataset_meta=dict(classes=('car', 'truck', 'bus', 'train'))),
         'state_dict': student}, box / 'student_other_classes.pth')
    names['distiller_other_classes'] = _save(
        {'meta': dict(meta, dataset_meta=dict(classes=('car', 'truck', 'bus', 'train'))),
         'state_dict': distiller}, box / 'procd_other_classes.pth')

    (box / 'broken.py').write_text('model = dict(\n    type=\'CascadeRCNN\',\n')
    (box / 'bad_argument.py').write_text(f"_base_ = '{STUDENT_TINY}'\n"
                                         'model = dict(neck=dict(nonsense_arg=3))\n')
    names['list'] = _save([1, 2, 3], box / 'list.pth')
    names['tensor'] = _save(torch.zeros(3), box / 'tensor.pth')
    names['int'] = _save(7, box / 'int.pth')
    names['empty'] = str(box / 'empty.pth')
    open(names['empty'], 'wb').close()
    names['truncated'] = str(box / 'truncated.pth')
    with open(names['student'], 'rb') as f, open(names['truncated'], 'wb') as g:
        g.write(f.read(5000))
    # checkpoints written by the project (with their content digest), one tensor byte flipped
    from procd_mm.utils.checkpoint_io import add_digest
    from tests.test_utils.test_checkpoint_io import corrupt_tensor_bytes
    for name, state in (('student_corrupt', student), ('distiller_corrupt', distiller)):
        names[name] = _save(add_digest({'meta': meta, 'state_dict': state}),
                            box / f'{name}.pth')
        corrupt_tensor_bytes(names[name])
    names['val_image'] = sorted(glob.glob(osp.join(synthetic_root, 'leftImg8bit', 'val', '*',
                                                   '*.png')))[0]
    names['marker'] = str(box / 'PAYLOAD_RAN')
    names['payload'] = _save({'state_dict': {}, 'x': _Payload(names['marker'])},
                             box / 'payload.pth')

    # data trees: a truncated train JSON, an empty train image, no val split
    ann = 'annotations/instancesonly_filtered_gtFine_train.json'
    names['bad_json'] = str(box / 'bad_json')
    shutil.copytree(synthetic_root, names['bad_json'])
    with open(osp.join(synthetic_root, ann), 'rb') as f:
        text = f.read()
    with open(osp.join(names['bad_json'], ann), 'wb') as f:
        f.write(text[:len(text) // 2])
    names['zero_image'] = str(box / 'zero_image')
    shutil.copytree(synthetic_root, names['zero_image'])
    coco = json.loads(text)
    annotated = {a['image_id'] for a in coco['annotations']}
    first = min(i['file_name'] for i in coco['images'] if i['id'] in annotated)
    names['zero_image_file'] = osp.join(names['zero_image'], 'leftImg8bit', 'train', first)
    open(names['zero_image_file'], 'wb').close()
    names['text_image'] = str(box / 'text_image')
    shutil.copytree(synthetic_root, names['text_image'])
    names['text_image_file'] = osp.join(names['text_image'], 'leftImg8bit', 'train', first)
    with open(names['text_image_file'], 'w') as f:
        f.write('not an image, only named like one\n')
    names['no_val'] = str(box / 'no_val')
    shutil.copytree(synthetic_root, names['no_val'],
                    ignore=lambda d, files: [f for f in files if f in ('val', 'annotations')])

    # data trees whose ground truth is not what it seems (train JSON changed, val as it was)
    def ground_truth(name, change):
        names[name] = str(box / name)
        shutil.copytree(synthetic_root, names[name])
        changed = json.loads(text)
        change(changed)
        with open(osp.join(names[name], ann), 'w') as f:
            json.dump(changed, f)
    first_ann = coco['annotations'][0]
    names['first_ann'] = str(first_ann['id'])
    names['first_image'] = str(first_ann['image_id'])
    ground_truth('unknown_category', lambda c: c['annotations'][0].update(category_id=99))
    ground_truth('negative_box', lambda c: c['annotations'][0]['bbox'].__setitem__(2, -5.0))
    ground_truth('outside_box', lambda c: c['annotations'][0]['bbox'].__setitem__(0, 10000.0))
    ground_truth('no_images', lambda c: c.update(images=[], annotations=[]))
    names['val_unknown_category'] = str(box / 'val_unknown_category')
    shutil.copytree(synthetic_root, names['val_unknown_category'])
    val_path = osp.join(names['val_unknown_category'], ann.replace('_train', '_val'))
    with open(val_path) as f:
        val = json.load(f)
    val['annotations'][0]['category_id'] = 99
    names['first_val_ann'] = str(val['annotations'][0]['id'])
    with open(val_path, 'w') as f:
        json.dump(val, f)
    names['val_without_gt'] = str(box / 'val_without_gt')
    shutil.copytree(synthetic_root, names['val_without_gt'])
    val_ann = osp.join(names['val_without_gt'], ann.replace('_train', '_val'))
    with open(val_ann) as f:
        val = json.load(f)
    val['annotations'] = []
    with open(val_ann, 'w') as f:
        json.dump(val, f)

    # an earlier run's work dir, and one whose checkpoints are all unreadable
    work = box / 'work'
    (work / '20250101_000000').mkdir(parents=True)
    (work / '20250101_000000' / '20250101_000000.log').write_text('an earlier run\n')
    (work / 'student_tiny.py').write_text('# the config copy of an earlier run\n')
    shutil.copy(names['student'], work / 'iter_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    names['work'] = str(work)
    corrupt = box / 'corrupt_work'
    corrupt.mkdir()
    shutil.copy(names['truncated'], corrupt / 'iter_2.pth')
    (corrupt / 'iter_4.pth').write_bytes(b'')
    (corrupt / 'last_checkpoint').write_text(str(corrupt / 'iter_4.pth'))
    names['corrupt_work'] = str(corrupt)
    # a work dir held by a training that runs (this process holds its lock)
    from procd_mm.apis.work_dir_lock import WorkDirLock
    locked = box / 'locked_work'
    shutil.copytree(work, locked)
    lock = WorkDirLock(str(locked), 'configs/synthetic/student_tiny.py')
    lock.acquire()
    _HELD.append(lock)
    names['locked'] = str(locked)
    return names


_HELD = []  # locks held for the module's rows


_NAME = re.compile(r'\{(\w+)\}')
_DATA = re.compile(r'^\{data(?::(.+))?\}$')


def substitute(text: str, names: dict) -> str:
    return _NAME.sub(lambda m: names.get(m.group(1), m.group(0)), text)


def expand(command: str, names: dict) -> list:
    args = []
    for token in shlex.split(command):
        token = substitute(token, names)
        data = _DATA.match(token)
        if data:
            args += data_options(data.group(1) or names['root'])
        else:
            args.append(token)
    return args


def snapshot(folder: str) -> dict:
    """Every file (with its hash) and folder below ``folder``."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for d in dirnames:
            state[osp.relpath(osp.join(dirpath, d), folder)] = 'dir'
        for f in filenames:
            path = osp.join(dirpath, f)
            with open(path, 'rb') as fh:
                state[osp.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return state


@pytest.mark.parametrize('row', ROWS, ids=[r.case for r in ROWS])
def test_sweep(row, sandbox):
    if '--amp' in row.command and torch.cuda.is_available():
        pytest.skip('--amp is refused on CPU only')
    args = expand(row.command, sandbox)
    before = snapshot(sandbox['sandbox'])
    result = tool_runner().run(*args, timeout=120)
    after = snapshot(sandbox['sandbox'])

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    tail = result.stderr[-3000:]
    assert result.returncode == 1, tail
    assert lines and lines[-1].startswith('error: '), tail
    assert substitute(row.expected, sandbox) in lines[-1], tail
    assert 'Traceback' not in result.stderr
    assert 'weights_only' not in result.stderr
    assert not osp.exists(sandbox['new'])
    assert not osp.exists(sandbox['marker']), 'the pickled payload ran'
    assert after == before, 'the failed start changed the sandbox'

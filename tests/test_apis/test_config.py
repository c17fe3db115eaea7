"""procd_mm/apis/config.py: --cfg-options parsing, the checks on each option, path anchoring."""
import os.path as osp

import pytest

from procd_mm.apis import load_config, parse_cfg_options
from procd_mm.utils import InputError
from tests.conftest import REPO

STUDENT = f'{REPO}/configs/synthetic/student_tiny.py'


def test_values_parse_as_mmengine_parses_them_but_keep_their_spaces():
    options = parse_cfg_options([
        'a=1', 'b=2.5', 'c=True', 'd=[1, 2]', 'e=(a,b)', 'f=x,y',
        'g=/data/my city/', "h='/quoted path/x.pth'", 'i=None'])
    assert options == {'a': 1, 'b': 2.5, 'c': True, 'd': [1, 2], 'e': ('a', 'b'),
                       'f': ['x', 'y'], 'g': '/data/my city/', 'h': '/quoted path/x.pth',
                       'i': None}


def test_malformed_entries_are_one_line():
    with pytest.raises(InputError, match="--cfg-options: 'nokey' is not KEY=VALUE"):
        parse_cfg_options(['nokey'])
    with pytest.raises(InputError, match=r'--cfg-options a=\[1,2: Imbalanced brackets'):
        parse_cfg_options(['a=[1,2'])


def test_a_data_root_with_spaces_is_named_as_given(tmp_path):
    """mmengine's parser would turn it into /tmp/.../mycity and the error would name that."""
    missing = str(tmp_path / 'my city') + '/'
    cfg = load_config(STUDENT, [f'train_dataloader.dataset.data_root={missing}'])
    assert cfg.train_dataloader.dataset.data_root == missing


def test_a_mistyped_key_and_a_wrong_value_type(tmp_path):
    with pytest.raises(InputError, match=r'did you mean train_cfg\.max_iters\?'):
        load_config(STUDENT, ['train_cfg.max_itrs=3'])
    with pytest.raises(InputError, match=r'train_cfg\.max_iters=abc: expected int'):
        load_config(STUDENT, ['train_cfg.max_iters=abc'])


def test_model_paths_are_anchored_by_the_one_rule(tmp_path, monkeypatch):
    (tmp_path / 'cfgs').mkdir()
    (tmp_path / 'cfgs' / 'mine.py').write_text(
        f"_base_ = '{REPO}/configs/synthetic/procd_tiny.py'\n"
        "model = dict(architecture=dict(cfg_path='student.py'),\n"
        "             teacher=dict(cfg_path='configs/synthetic/teacher_tiny.py'),\n"
        "             teacher_ckpt='teacher.pth')\n")
    (tmp_path / 'cfgs' / 'student.py').write_text(f"_base_ = '{STUDENT}'\n")
    (tmp_path / 'cfgs' / 'teacher.pth').write_bytes(b'')
    (tmp_path / 'student.py').write_text('# the working directory comes second\n')
    monkeypatch.chdir(tmp_path)
    model = load_config(str(tmp_path / 'cfgs' / 'mine.py')).model
    assert model.architecture.cfg_path == str(tmp_path / 'cfgs' / 'student.py')
    # not next to the config, not in the working directory: the shipped configs
    assert model.teacher.cfg_path.endswith(osp.join('.mim', 'configs', 'synthetic',
                                                    'teacher_tiny.py'))
    assert osp.isfile(model.teacher.cfg_path)
    assert model.teacher_ckpt == str(tmp_path / 'cfgs' / 'teacher.pth')
    missing = load_config(str(tmp_path / 'cfgs' / 'mine.py'),
                          {'model.teacher_ckpt': 'work_dirs/missing.pth'}).model
    assert missing.teacher_ckpt == 'work_dirs/missing.pth'  # found nowhere: as written

"""procd_mm.utils.paths: the one rule for relative paths a config names."""
import os
import os.path as osp

from procd_mm.utils.paths import PACKAGE_DATA, find_file, is_relative_local
from tests.conftest import REPO


def test_the_config_directory_comes_before_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / 'cfgs').mkdir()
    (tmp_path / 'cfgs' / 'student.py').write_text('# next to the config\n')
    (tmp_path / 'student.py').write_text('# in the working directory\n')
    monkeypatch.chdir(tmp_path)
    assert find_file('student.py', str(tmp_path / 'cfgs')) == str(tmp_path / 'cfgs' / 'student.py')
    assert find_file('student.py') == str(tmp_path / 'student.py')
    assert find_file('student.py', str(tmp_path / 'elsewhere')) == str(tmp_path / 'student.py')


def test_the_shipped_configs_come_last_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = find_file('configs/synthetic/student_tiny.py')
    assert found == osp.abspath(osp.join(PACKAGE_DATA, 'configs/synthetic/student_tiny.py'))
    with open(found) as shipped, open(osp.join(REPO, 'configs/synthetic/student_tiny.py')) as own:
        assert shipped.read() == own.read()
    # a file of the same name in the working directory wins over the shipped one
    os.makedirs(tmp_path / 'configs' / 'synthetic')
    (tmp_path / 'configs' / 'synthetic' / 'student_tiny.py').write_text('# mine\n')
    assert find_file('configs/synthetic/student_tiny.py') == \
        str(tmp_path / 'configs' / 'synthetic' / 'student_tiny.py')


def test_urls_package_names_and_missing_files(tmp_path):
    assert not is_relative_local('mmdet::rtmdet/rtmdet_x_8xb32-300e_coco.py')
    assert not is_relative_local('https://download.openmmlab.com/x.pth')
    assert not is_relative_local(str(tmp_path / 'x.pth'))
    assert not is_relative_local('')
    assert find_file('no/such/file.py', str(tmp_path)) is None
    absolute = tmp_path / 'a.pth'
    assert find_file(str(absolute)) is None
    absolute.write_bytes(b'x')
    assert find_file(str(absolute)) == str(absolute)

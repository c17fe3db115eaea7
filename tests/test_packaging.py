"""The package's requirements are ranges: installing it beside another torch keeps that torch."""
import ast
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO


def install_requires():
    tree = ast.parse(open(osp.join(REPO, 'setup.py'), encoding='utf-8').read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'install_requires':
            return [Requirement(ast.literal_eval(item)) for item in node.value.elts]
    raise AssertionError('setup.py has no install_requires')


def fake_installed(site: str, name: str, version: str) -> None:
    """The metadata pip reads of an installed distribution (no code)."""
    info = osp.join(site, f'{name.replace("-", "_")}-{version}.dist-info')
    os.makedirs(info)
    with open(osp.join(info, 'METADATA'), 'w') as f:
        f.write(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    for file in ('INSTALLER', 'RECORD'):
        open(osp.join(info, file), 'w').close()


def isolated_pip_env() -> dict:
    """The environment without pip settings of this machine (config files, local wheel dirs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}
    env['PIP_CONFIG_FILE'] = os.devnull
    return env


def copy_wheel_package(site: str) -> None:
    import wheel
    source = osp.dirname(osp.dirname(wheel.__file__))
    for entry in os.listdir(source):
        if entry == 'wheel' or (entry.startswith('wheel-') and entry.endswith('.dist-info')):
            shutil.copytree(osp.join(source, entry), osp.join(site, entry))


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """setup.py and README of this repository beside an empty ``procd_mm`` package."""
    root = tmp_path_factory.mktemp('project')
    for name in ('setup.py', 'README.md'):
        shutil.copy(osp.join(REPO, name), root / name)
    (root / 'procd_mm').mkdir()
    (root / 'procd_mm' / '__init__.py').write_text('')
    return root


def dry_run(tmp_path, project, torch_version: str):
    """``pip install --dry-run -e`` offline in a venv whose torch is ``torch_version`` and whose
    other requirements are at this environment's versions."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    purelib = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    site = subprocess.run([python, '-c', purelib], check=True, capture_output=True,
                          text=True).stdout.strip()
    copy_wheel_package(site)  # setuptools builds editable metadata with it (no index here)
    present = {d.metadata['Name'].lower() for d in metadata.distributions(path=[site])}
    for req in install_requires():
        if req.name.lower() in present:
            continue
        fake_installed(site, req.name, torch_version if req.name == 'torch'
                       else metadata.version(req.name))
    report = tmp_path / 'report.json'
    result = subprocess.run([python, '-m', 'pip', 'install', '--dry-run', '--no-index',
                             '--no-build-isolation', '--report', str(report), '-e', str(project)],
                            capture_output=True, text=True, env=isolated_pip_env())
    return result, report


def test_another_torch_is_kept(tmp_path, project):
    result, report = dry_run(tmp_path, project, '2.5.1')
    assert result.returncode == 0, result.stderr[-2000:]
    to_install = [item['metadata']['name'] for item in json.loads(report.read_text())['install']]
    assert to_install == ['procd-mm']


# below 2.0, and from 2.14 on (C++20 headers, which mmcv 2.1.0's c++17 ops build cannot compile)
@pytest.mark.parametrize('torch_version', ['1.13.1', '2.14.0'])
def test_a_torch_outside_the_range_is_refused(tmp_path, project, torch_version):
    result, _ = dry_run(tmp_path, project, torch_version)
    assert result.returncode != 0
    # pip names the requirement with its specifiers sorted
    assert 'No matching distribution found for torch<2.14,>=2.0' in result.stderr, result.stderr


INSTALLED_ROW = '''
_base_ = ['procd_mm::_base_/distillers/procd_swin-b_coco_teacher.py',
          'procd_mm::_base_/datasets/foggy_cityscapes_detection.py',
          'procd_mm::_base_/schedules/sgd_36e.py', 'procd_mm::_base_/default_runtime.py']
model = dict(
    architecture=dict(cfg_path='procd_mm::_base_/models/cascade-mask-rcnn_swin-t-p4-w7_fpn.py',
                      backbone=dict(init_cfg=None)),
    teacher_ckpt=None, teacher_strict=False)
'''

BUILD = '''
import sys
# the editable install of this checkout resolves procd_mm through a finder of its own
sys.meta_path = [f for f in sys.meta_path if 'editable' not in getattr(f, '__module__', '')
                 and 'editable' not in getattr(f, '__name__', '')]
import procd_mm
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS
cfg = Config.fromfile('row.py')
init_default_scope('mmdet')
model = MODELS.build(cfg.model)
print(procd_mm.__file__)
print(type(model).__name__, type(model.student.backbone).__name__,
      model.teacher.backbone.patch_embed.projection.out_channels, model.prototype_branch.level)
'''


def test_configs_resolve_from_a_non_editable_install(tmp_path):
    """``procd_mm::`` bases and model paths from a wheel-style install, in a directory outside
    the checkout: a plain config inheriting the distiller, teacher, dataset and schedule bases
    and naming its own student builds the paper's pair."""
    # a copy of what the package is made of (pip builds in the source tree)
    source = tmp_path / 'source'
    source.mkdir()
    for name in ('setup.py', 'README.md'):
        shutil.copy(osp.join(REPO, name), source / name)
    for name in ('procd_mm', 'configs'):
        shutil.copytree(osp.join(REPO, name), source / name, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__'))
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index',
                    '--no-build-isolation', '--target', str(site), str(source)], check=True,
                   capture_output=True, env=isolated_pip_env())
    assert (site / 'procd_mm' / '.mim' / 'configs' / '_base_' / 'distillers' /
            'procd.py').is_file()
    work = tmp_path / 'elsewhere'
    work.mkdir()
    (work / 'row.py').write_text(INSTALLED_ROW)
    env = dict(isolated_pip_env(), PYTHONPATH=str(site))
    result = subprocess.run([sys.executable, '-c', BUILD], cwd=work, env=env, text=True,
                            capture_output=True)
    assert result.returncode == 0, result.stderr[-3000:]
    where, built = result.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(site))
    assert built == 'ProCKD SwinTransformer 128 3'


def test_configs_resolve_from_this_install_outside_the_checkout(tmp_path):
    """The same with this environment's install of the checkout (editable: pip's finder, no
    folder under site-packages), from a directory where the checkout is not on sys.path."""
    (tmp_path / 'row.py').write_text(
        "_base_ = ['procd_mm::_base_/distillers/procd_swin-b_coco_teacher.py']\n")
    code = ('import procd_mm\n'
            'from mmengine.config import Config\n'
            'from mmengine.hub import get_config\n'
            "print(Config.fromfile('row.py').model.type, get_config("
            "'procd_mm::_base_/models/cascade-mask-rcnn_swin-b-p4-w7_fpn_coco.py')"
            '.model.backbone.embed_dims)\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, text=True,
                            capture_output=True, env=isolated_pip_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == 'ProCKD 128'

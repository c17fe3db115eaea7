"""tools/misc/setup_cuda.py on CPU: its choices and commands, without installing anything."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = osp.join(REPO, 'tools', 'misc', 'setup_cuda.py')
_spec = importlib.util.spec_from_file_location('setup_cuda', SCRIPT)
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)

SITE = '/venv/lib/python3.11/site-packages'


def one_line_error(call, *args):
    with pytest.raises(sc.SetupError) as info:
        call(*args)
    message = str(info.value)
    assert message and '\n' not in message
    return message


@pytest.mark.parametrize('version, cuda_attr, release, cuda', [
    ('2.13.0+cu130', '13.0', (2, 13, 0), (13, 0)),
    ('2.13.0+cu126', None, (2, 13, 0), (12, 6)),       # no torch.version.cuda: the tag
    ('2.13.0+cu118', '11.8', (2, 13, 0), (11, 8)),
    ('2.13.0', '13.0', (2, 13, 0), (13, 0)),           # no tag: torch.version.cuda
    ('2.13.0+cpu', None, (2, 13, 0), None),
    ('2.14.0.dev20260101+cu130', None, (2, 14, 0), (13, 0)),
])
def test_torch_version_and_its_cuda(version, cuda_attr, release, cuda):
    assert sc.parse_torch_version(version).release == release
    assert sc.torch_cuda(version, cuda_attr) == cuda


def test_toolkit_cu130_without_nvcc_is_pypis():
    toolkit = sc.choose_toolkit((13, 0), [], SITE)
    assert toolkit.kind == 'pypi'
    assert toolkit.pip_spec == 'cuda-toolkit[nvcc,cccl,cudart]==13.0.3.0'
    assert toolkit.cuda_home == f'{SITE}/nvidia/cu13'
    assert toolkit.nvcc == f'{SITE}/nvidia/cu13/bin/nvcc'


def test_toolkit_cu130_a_system_nvcc_of_13_0_is_used_and_another_version_is_not():
    system = sc.choose_toolkit((13, 0), [('/usr/local/cuda-13.0/bin/nvcc', (13, 0))], SITE)
    assert (system.kind, system.cuda_home, system.pip_spec) == \
        ('system', '/usr/local/cuda-13.0', None)
    # an nvcc of another CUDA on PATH: PyPI's 13.0 toolkit instead
    assert sc.choose_toolkit((13, 0), [('/usr/bin/nvcc', (12, 6))], SITE).kind == 'pypi'


def test_toolkit_cu126_uses_the_system_nvcc_of_12_6():
    nvccs = [('/usr/local/cuda-12.4/bin/nvcc', (12, 4)), ('/usr/local/cuda-12.6/bin/nvcc', (12, 6))]
    toolkit = sc.choose_toolkit((12, 6), nvccs, SITE)
    assert (toolkit.kind, toolkit.cuda_home, toolkit.nvcc, toolkit.pip_spec) == \
        ('system', '/usr/local/cuda-12.6', '/usr/local/cuda-12.6/bin/nvcc', None)


def test_toolkit_cu126_without_its_nvcc_is_one_line_error():
    missing = one_line_error(sc.choose_toolkit, (12, 6), [], SITE)
    assert 'CUDA 12.6' in missing and 'no nvcc was found' in missing and 'CUDA_HOME' in missing
    other = one_line_error(sc.choose_toolkit, (12, 6), [('/usr/bin/nvcc', (12, 4))], SITE)
    assert '/usr/bin/nvcc is CUDA 12.4' in other and 'CUDA 12.6 toolkit' in other


@pytest.mark.parametrize('version', ['2.14.0+cu130', '2.15.1', '3.0.0'])
def test_torch_2_14_and_later_are_refused_with_the_torch_to_use(version):
    message = sc.torch_refusal(sc.parse_torch_version(version).release)
    assert message and '\n' not in message
    assert 'C++20' in message and 'use torch 2.13.x' in message


@pytest.mark.parametrize('version', ['2.13.0+cu130', '2.13.1', '2.0.0'])
def test_torch_in_the_range_is_accepted(version):
    assert sc.torch_refusal(sc.parse_torch_version(version).release) is None


def test_main_refuses_torch_2_14_before_it_touches_anything(tmp_path):
    venv = tmp_path / 'venv'
    result = subprocess.run([sys.executable, SCRIPT, '--torch', '2.14.0', '--venv', str(venv)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'error: torch 2.14.0 needs C++20 (ATen/ATen.h) but mmcv 2.1.0, the newest mmcv mmdet '
        '3.3.0 accepts, builds its ops with -std=c++17: use torch 2.13.x (--torch 2.13.0)']
    assert result.stdout == '' and not venv.exists()


@pytest.mark.parametrize('variable, expected', [
    ('9.0', '9.0'),
    ('8.6;9.0', '8.6;9.0'),
    ('8.0 8.6+PTX', '8.0;8.6+PTX'),
    (' 9.0a ;9.0a', '9.0a'),
])
def test_arch_list_from_the_variable(variable, expected):
    assert sc.arch_list(variable, []) == expected
    assert sc.arch_list(variable, ['7.5']) == expected      # the variable wins over the GPUs


def test_arch_list_from_the_gpus_and_neither():
    assert sc.parse_compute_caps('9.0\n9.0\n8.0\n') == ['9.0', '9.0', '8.0']
    assert sc.parse_compute_caps('[N/A]\n') == []
    assert sc.arch_list(None, ['9.0', '9.0', '10.0', '8.0']) == '8.0;9.0;10.0'
    assert sc.arch_list('', ['8.6']) == '8.6'
    assert 'TORCH_CUDA_ARCH_LIST is not set' in one_line_error(sc.arch_list, None, [])
    assert "'sm_90' is not a compute capability" in one_line_error(sc.arch_list, 'sm_90', [])


def test_mmcv_command_keeps_numpy_below_2_with_opencv_below_4_12():
    cmd = sc.mmcv_command('/v/bin/python')
    assert cmd[:4] == ['/v/bin/python', '-m', 'pip', 'install']
    # numpy and opencv-python in the very command that installs mmcv and its requirements
    assert {'mmcv==2.1.0', 'numpy<2', 'opencv-python<4.12', 'setuptools>=77,<81'} <= set(cmd)
    assert '--no-build-isolation' in cmd and '--no-cache-dir' in cmd
    assert cmd[cmd.index('--no-binary') + 1] == 'mmcv'     # from source, never a CPU wheel
    assert '-v' not in cmd and '-v' in sc.mmcv_command('/v/bin/python', verbose=True)


def test_the_other_pip_commands():
    assert sc.torch_command('py') == ['py', '-m', 'pip', 'install', 'torch==2.13.0']
    assert sc.torch_command('py', '2.13.0', 'https://download.pytorch.org/whl/cu126')[-2:] == \
        ['--index-url', 'https://download.pytorch.org/whl/cu126']
    tools = sc.build_tools_command('py')
    assert {'setuptools>=77,<81', 'wheel', 'ninja', 'numpy<2', 'opencv-python<4.12'} <= set(tools)
    project = sc.project_command('py', '2.13.0+cu130')
    assert project[-2:] == ['-e', '.[tests]']
    assert {'torch==2.13.0+cu130', 'mmcv==2.1.0', 'mmengine==0.10.7', 'mmdet==3.3.0',
            'mmrazor==1.0.0', 'numpy<2', 'opencv-python<4.12', 'setuptools>=77,<81'} <= set(project)


def test_build_env():
    toolkit = sc.Toolkit('pypi', f'{SITE}/nvidia/cu13', f'{SITE}/nvidia/cu13/bin/nvcc', 'x')
    env = sc.build_env({'PATH': '/usr/bin', 'HOME': '/h'}, toolkit, '9.0', 16)
    assert env == {'PATH': f'{SITE}/nvidia/cu13/bin:/usr/bin', 'HOME': '/h', 'MMCV_WITH_OPS': '1',
                   'FORCE_CUDA': '1', 'MAX_JOBS': '16', 'TORCH_CUDA_ARCH_LIST': '9.0',
                   'CUDA_HOME': f'{SITE}/nvidia/cu13'}
    assert sc.default_jobs({'MAX_JOBS': '3'}) == 3 and sc.default_jobs({}) >= 1


def test_libcudart_link_plan():
    home = f'{SITE}/nvidia/cu13'
    # the cu13 wheel: libcudart.so.13 only
    assert sc.libcudart_link_plan(home, {'lib': ['libcudart.so.13', 'libcudart.so.13.0.96',
                                                 'libnvrtc.so.13']}) == \
        (f'{home}/lib/libcudart.so', 'libcudart.so.13')
    # lib64 is what torch links from when it exists
    assert sc.libcudart_link_plan(home, {'lib64': ['libcudart.so.12'], 'lib': []}) == \
        (f'{home}/lib64/libcudart.so', 'libcudart.so.12')
    assert sc.libcudart_link_plan('/usr/local/cuda', {'lib64': ['libcudart.so',
                                                                'libcudart.so.12']}) is None
    assert 'no libcudart.so*' in one_line_error(sc.libcudart_link_plan, home, {'lib': []})
    assert 'no lib64/ or lib/' in one_line_error(sc.libcudart_link_plan, home, {})


def test_the_planned_link_resolves(tmp_path):
    lib = tmp_path / 'lib'
    lib.mkdir()
    (lib / 'libcudart.so.13').write_bytes(b'\x7fELF')
    link, target = sc.libcudart_link_plan(str(tmp_path), {'lib': os.listdir(lib)})
    os.symlink(target, link)
    assert osp.realpath(link) == str(lib / 'libcudart.so.13')


def test_nvcc_version_and_the_built_mmcv():
    out = ('nvcc: NVIDIA (R) Cuda compiler driver\n'
           'Cuda compilation tools, release 12.6, V12.6.85\nBuild cuda_12.6.r12.6/compiler.1\n')
    assert sc.parse_nvcc_version(out) == (12, 6)
    assert sc.parse_nvcc_version('bash: nvcc: command not found') is None
    assert sc.mmcv_is_built({'mmcv': '2.1.0', 'mmcv_cuda': '13.0'}, (13, 0))
    assert not sc.mmcv_is_built({'mmcv': '2.1.0', 'mmcv_cuda': 'not available'}, (13, 0))
    assert not sc.mmcv_is_built({'mmcv': '2.1.0', 'mmcv_error': 'ImportError: x'}, (13, 0))
    assert not sc.mmcv_is_built({'mmcv': '2.1.0', 'mmcv_cuda': '12.6'}, (13, 0))


def test_the_ops_check_on_cpu_and_the_gpu_check_here():
    """The check's own code runs (on the CPU kernels); the GPU check refuses in one line here."""
    assert 'nms kept [0, 2]' in sc.ops_check('cpu')
    import torch
    if not torch.cuda.is_available():
        message = one_line_error(sc.gpu_check)
        assert 'without CUDA ops' in message or 'no CUDA GPU is visible' in message


# ------------------------------------------------------------------ main() with a stand-in venv

FAKE_PYTHON = '''#!/bin/sh
# a venv's python that records what it is asked to do; the probe answers from $FAKE_PROBE
echo "MMCV_WITH_OPS=$MMCV_WITH_OPS FORCE_CUDA=$FORCE_CUDA CUDA_HOME=$CUDA_HOME \
TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS | $(echo "$*" | head -c 300 | \
tr '\\n' ' ')" >> "$FAKE_CALLS"
case "$2" in *sysconfig*) cat "$FAKE_PROBE";; esac
exit 0
'''
FAKE_NVCC = '''#!/bin/sh
echo "Cuda compilation tools, release 13.0, V13.0.88"
'''


def executable(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def run_main(tmp_path, probe, *args, **env):
    import json
    venv = tmp_path / 'venv'
    executable(venv / 'bin' / 'python', FAKE_PYTHON)
    executable(tmp_path / 'bin' / 'g++', '#!/bin/sh\n')
    (tmp_path / 'probe.json').write_text(json.dumps(dict(
        dict(purelib=str(venv / 'site'), caps=[], python_h=True, torch_dist='2.13.0'), **probe)))
    full_env = {k: v for k, v in os.environ.items()
                if k not in ('CUDA_HOME', 'TORCH_CUDA_ARCH_LIST', 'MAX_JOBS')}
    full_env.update(PATH=f'{tmp_path / "bin"}:/usr/bin:/bin', FAKE_CALLS=str(tmp_path / 'calls'),
                    FAKE_PROBE=str(tmp_path / 'probe.json'), **env)
    result = subprocess.run([sys.executable, SCRIPT, '--venv', str(venv), *args],
                            capture_output=True, text=True, env=full_env, timeout=60)
    calls = (tmp_path / 'calls').read_text().splitlines() if (tmp_path / 'calls').exists() else []
    return result, [[part.strip() for part in c.split(' | ', 1)] for c in calls]


def test_main_refuses_a_cpu_torch_in_the_venv(tmp_path):
    result, calls = run_main(tmp_path, dict(torch='2.13.0+cpu', torch_cuda=None))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'error: the torch in {tmp_path / "venv"} is 2.13.0+cpu, a CPU build (pip keeps it): '
        'remove the venv (make clean-venv) or use another one (--venv DIR)']
    assert [c[1] for c in calls][0] == '-m pip install --upgrade pip' and len(calls) == 2


def test_main_cu126_without_its_nvcc_stops_before_the_build(tmp_path):
    result, calls = run_main(tmp_path, dict(torch='2.13.0+cu126', torch_cuda='12.6'),
                             TORCH_CUDA_ARCH_LIST='9.0')
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith('error: torch is built with CUDA 12.6') and 'CUDA_HOME' in lines[0]
    assert not any('mmcv' in c[1] for c in calls)


def test_main_builds_mmcv_with_a_system_nvcc_then_checks(tmp_path):
    cuda = tmp_path / 'cuda-13.0'
    executable(cuda / 'bin' / 'nvcc', FAKE_NVCC)
    (cuda / 'include').mkdir()
    (cuda / 'include' / 'cuda_runtime.h').write_text('')
    result, calls = run_main(tmp_path, dict(torch='2.13.0+cu130', torch_cuda='13.0'),
                             '--jobs', '3', CUDA_HOME=str(cuda), TORCH_CUDA_ARCH_LIST='9.0')
    assert result.returncode == 0, result.stderr
    assert f'nvcc: {cuda}/bin/nvcc (system); TORCH_CUDA_ARCH_LIST=9.0; MAX_JOBS=3' in \
        result.stdout
    commands = [c[1] for c in calls if not c[1].startswith('-c ')]
    assert commands == [
        '-m pip install --upgrade pip',
        '-m pip install setuptools>=77,<81 wheel ninja numpy<2 opencv-python<4.12',
        '-m pip install --no-build-isolation --no-binary mmcv --no-cache-dir mmcv==2.1.0 '
        'mmengine==0.10.7 setuptools>=77,<81 numpy<2 opencv-python<4.12',
        '-m pip install torch==2.13.0 mmengine==0.10.7 mmcv==2.1.0 mmdet==3.3.0 mmrazor==1.0.0 '
        'setuptools>=77,<81 numpy<2 opencv-python<4.12 -e .[tests]',
        f'{SCRIPT} --check-only']
    build = next(c[0] for c in calls if 'mmcv==2.1.0 mmengine' in c[1])
    assert build == (f'MMCV_WITH_OPS=1 FORCE_CUDA=1 CUDA_HOME={cuda} TORCH_CUDA_ARCH_LIST=9.0 '
                     'MAX_JOBS=3')


def test_main_keeps_an_mmcv_built_with_the_cuda_of_torch(tmp_path):
    result, calls = run_main(tmp_path, dict(torch='2.13.0+cu130', torch_cuda='13.0',
                                            mmcv='2.1.0', mmcv_cuda='13.0'))
    assert result.returncode == 0, result.stderr
    assert 'is built already: not rebuilt' in result.stdout
    assert not any('--no-build-isolation' in c[1] for c in calls)

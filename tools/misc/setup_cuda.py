"""Install this project's pinned stack with CUDA (``make setup-cuda``), then check mmcv's GPU ops.

    python3 tools/misc/setup_cuda.py [--venv .venv] [--torch-index URL] [--jobs N]

The stack: torch 2.13.0, mmcv 2.1.0 compiled with its ops (C++ and CUDA), mmengine
0.10.7, mmdet 3.3.0, mmrazor 1.0.0 and this project (editable, with its test
extras). The steps, each a subprocess:

1. the venv (created when missing) and an up-to-date pip;
2. torch: the one already in the venv, else ``torch==2.13.0`` (PyPI's build is
   ``2.13.0+cu130``; ``--torch-index https://download.pytorch.org/whl/cu126`` gives
   a CUDA 12.6 one); its CUDA version is read back from the venv
   (``torch.version.cuda``, else the ``+cuXYZ`` tag);
3. an nvcc of torch's CUDA major.minor (torch's extension build refuses an nvcc
   of another major): ``$CUDA_HOME/bin/nvcc``, ``nvcc`` on PATH or
   ``/usr/local/cuda/bin/nvcc`` when one matches; else, for CUDA 13.0, PyPI's
   ``cuda-toolkit[nvcc,cccl,cudart]==13.0.3.0`` with ``CUDA_HOME`` at
   ``site-packages/nvidia/cu13`` and the ``libcudart.so`` link that wheel lacks
   (``-lcudart`` needs it). For CUDA 12.x PyPI has no usable nvcc (the
   ``nvidia-cuda-nvcc-cu12`` 12.6.85 wheel ships ptxas, libnvvm and headers but
   no nvcc driver), so 12.x needs a system toolkit of the same major.minor;
4. mmcv 2.1.0 compiled from its source distribution (never a prebuilt or cached
   wheel, which may be a CPU one) with ``MMCV_WITH_OPS=1 FORCE_CUDA=1``,
   ``MAX_JOBS`` = the cores this process may use and ``TORCH_CUDA_ARCH_LIST``
   from the environment variable when it is set, else from the visible GPUs;
   ``"numpy<2" "opencv-python<4.12"`` in the same pip command (alone, mmcv pulls
   opencv-python 5.x, which raises numpy to 2.x) and ``setuptools>=77,<81``
   (torch 2.13 needs >= 77.0.3, mmcv's setup.py needs ``pkg_resources``, gone in
   81). Skipped when the venv's mmcv 2.1.0 already has ops of torch's CUDA;
5. mmengine, mmdet, mmrazor and this project, with torch, mmcv, numpy and
   opencv-python held where they are;
6. ``mmcv.ops.nms`` and ``mmcv.ops.RoIAlign`` run on the GPU, RoIAlign compared
   with the CPU kernel (``--check-only`` runs this step alone).

Every refusal and failure ends in one line, ``error: ...``, naming what is wrong.

torch 2.14 and later are refused, with the torch to use (2.13.x): their
``ATen/ATen.h`` requires C++20, and mmcv 2.1.0's setup.py hard-codes
``-std=c++17`` for both gcc and nvcc, so its ops do not compile against them.
Editing those flags to ``-std=c++20`` was not tried: showing that the CUDA ops
then compile, link and run needs a torch 2.14 build (gigabytes) and a GPU, so
the script does not offer an untested path. mmcv 2.2.0, the next release, is
not an option either: mmdet 3.3.0 refuses mmcv >= 2.2.0. The decision is the
pure function :func:`torch_refusal`.

The pure functions (parsing, choices, commands) are unit-tested on CPU in
tests/test_setup_cuda.py; :func:`main` runs them with subprocess.
"""
import argparse
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TORCH = '2.13.0'
MMCV = '2.1.0'
PINS = ['mmengine==0.10.7', f'mmcv=={MMCV}', 'mmdet==3.3.0', 'mmrazor==1.0.0']
# in every command that may touch them: see the module docstring
SETUPTOOLS = 'setuptools>=77,<81'
NUMPY = ['numpy<2', 'opencv-python<4.12']
# PyPI CUDA toolkits whose nvcc compiles mmcv 2.1.0 (measured: 13.0 with torch 2.13.0+cu130);
# the toolkit's CUDA_HOME is site-packages/nvidia/cu<major>
PYPI_TOOLKITS = {(13, 0): '13.0.3.0'}
TOOLKIT_EXTRAS = 'nvcc,cccl,cudart'
CUDA = Tuple[int, int]


class SetupError(Exception):
    """A refusal or failure, printed as one line ``error: ...``."""


class TorchVersion(NamedTuple):
    release: Tuple[int, ...]   # (2, 13, 0)
    local: Optional[str]       # 'cu130', 'cpu' or None
    cuda: Optional[CUDA]       # from a '+cuXYZ' tag


class Toolkit(NamedTuple):
    kind: str                  # 'system' or 'pypi'
    cuda_home: str
    nvcc: str
    pip_spec: Optional[str]    # what to pip install for a 'pypi' toolkit


# ------------------------------------------------------------------ pure functions

def parse_cuda_tag(local: Optional[str]) -> Optional[CUDA]:
    """``'cu130'`` -> (13, 0), ``'cu126'`` -> (12, 6), ``'cu118'`` -> (11, 8); else None."""
    match = re.fullmatch(r'cu(\d+)(\d)', local or '')
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_torch_version(version: str) -> TorchVersion:
    """``'2.13.0+cu130'`` -> ``TorchVersion((2, 13, 0), 'cu130', (13, 0))``."""
    match = re.fullmatch(r'(\d+(?:\.\d+)*)[^+\s]*(?:\+(\S+))?', version.strip())
    if not match:
        raise SetupError(f'cannot read the torch version {version!r}')
    local = match.group(2)
    return TorchVersion(tuple(int(p) for p in match.group(1).split('.')), local,
                        parse_cuda_tag(local))


def torch_cuda(version: str, version_cuda: Optional[str]) -> Optional[CUDA]:
    """torch's CUDA: ``torch.version.cuda`` (``'13.0'``), else the ``+cuXYZ`` tag; None: CPU."""
    if version_cuda:
        match = re.match(r'(\d+)\.(\d+)', version_cuda)
        if match:
            return int(match.group(1)), int(match.group(2))
    return parse_torch_version(version).cuda


def torch_refusal(release: Sequence[int]) -> Optional[str]:
    """Why mmcv 2.1.0's ops cannot be built against this torch (one line), or None."""
    shown = '.'.join(str(p) for p in release)
    if tuple(release[:2]) >= (2, 14):
        return (f'torch {shown} needs C++20 (ATen/ATen.h) but mmcv {MMCV}, the newest mmcv '
                f'mmdet 3.3.0 accepts, builds its ops with -std=c++17: use torch 2.13.x '
                f'(--torch {TORCH})')
    if tuple(release[:2]) < (2, 0):
        return f'torch {shown} is older than this project supports (2.0): use torch {TORCH}'
    return None


def parse_nvcc_version(text: str) -> Optional[CUDA]:
    """``nvcc --version`` output (``... release 12.6, V12.6.85``) -> (12, 6)."""
    match = re.search(r'release (\d+)\.(\d+)', text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def choose_toolkit(cuda: CUDA, nvccs: Sequence[Tuple[str, CUDA]], purelib: str) -> Toolkit:
    """The nvcc to build with: a system nvcc of torch's CUDA major.minor, else a PyPI toolkit.

    ``nvccs``: (path of an nvcc found on this machine, its CUDA version), in order of
    preference; ``purelib``: the venv's site-packages.
    """
    want = f'{cuda[0]}.{cuda[1]}'
    for path, version in nvccs:
        if tuple(version) == tuple(cuda):
            return Toolkit('system', osp.dirname(osp.dirname(path)), path, None)
    if tuple(cuda) in PYPI_TOOLKITS:
        home = osp.join(purelib, 'nvidia', f'cu{cuda[0]}')
        return Toolkit('pypi', home, osp.join(home, 'bin', 'nvcc'),
                       f'cuda-toolkit[{TOOLKIT_EXTRAS}]=={PYPI_TOOLKITS[tuple(cuda)]}')
    known = ', '.join(f'{a}.{b}' for a, b in sorted(PYPI_TOOLKITS))
    fix = (f'install the CUDA {want} toolkit and set CUDA_HOME to it, or use a torch built '
           f'for CUDA {known} (PyPI\'s torch=={TORCH}), whose nvcc comes from PyPI')
    if nvccs:
        found = ', '.join(f'{path} is CUDA {v[0]}.{v[1]}' for path, v in nvccs)
        raise SetupError(f'torch is built with CUDA {want}, no nvcc of CUDA {want} was found '
                         f'({found}), and PyPI\'s CUDA toolkit is used for CUDA {known} only: '
                         f'{fix}')
    raise SetupError(f'torch is built with CUDA {want} and no nvcc was found ($CUDA_HOME/bin, '
                     f'PATH, /usr/local/cuda/bin); PyPI\'s CUDA toolkit is used for CUDA {known} '
                     f'only (nvidia-cuda-nvcc-cu12 12.6 ships ptxas but no nvcc): {fix}')


def libcudart_link_plan(cuda_home: str,
                        listing: Dict[str, List[str]]) -> Optional[Tuple[str, str]]:
    """The ``libcudart.so`` link that ``-lcudart`` needs: (link path, relative target), or None.

    ``listing``: the file names in ``CUDA_HOME/lib64`` and/or ``CUDA_HOME/lib`` (the keys
    present are the folders that exist). The folder is the one torch's extension build
    links from: ``lib64`` when it exists, else ``lib``.
    """
    sub = next((name for name in ('lib64', 'lib') if name in listing), None)
    if sub is None:
        raise SetupError(f'{cuda_home} has no lib64/ or lib/ folder: not a CUDA toolkit')
    names = listing[sub]
    if 'libcudart.so' in names:
        return None
    versioned = sorted((n for n in names if re.fullmatch(r'libcudart\.so\.\d+(\.\d+)*', n)),
                       key=lambda n: (len(n), n))
    if not versioned:
        raise SetupError(f'no libcudart.so* in {osp.join(cuda_home, sub)}: the CUDA runtime '
                         f'is missing (the cudart part of the toolkit)')
    return osp.join(cuda_home, sub, 'libcudart.so'), versioned[0]


ARCH = re.compile(r'\d+\.\d+[a-z]?(\+PTX)?')


def parse_compute_caps(text: str) -> List[str]:
    """``nvidia-smi --query-gpu=compute_cap --format=csv,noheader`` -> ['9.0', ...]."""
    return [line.strip() for line in text.splitlines() if re.fullmatch(r'\d+\.\d+', line.strip())]


def arch_list(variable: Optional[str], gpu_caps: Sequence[str]) -> str:
    """``TORCH_CUDA_ARCH_LIST`` for the build.

    The environment variable wins when it is set (an explicit choice, e.g. a container
    built for GPUs it does not see; torch's build would read it anyway), else the
    compute capabilities of the visible GPUs; neither: refused.
    """
    if variable and variable.strip():
        entries = [e for e in re.split(r'[;\s]+', variable.strip()) if e]
        bad = [e for e in entries if not ARCH.fullmatch(e)]
        if bad:
            raise SetupError(f'TORCH_CUDA_ARCH_LIST={variable!r}: {bad[0]!r} is not a compute '
                             f'capability such as 8.6, 9.0 or 9.0+PTX')
        return ';'.join(dict.fromkeys(entries))
    caps = sorted(set(gpu_caps), key=lambda c: tuple(int(p) for p in c.split('.')))
    if not caps:
        raise SetupError('no GPU visible (nvidia-smi, torch.cuda) and TORCH_CUDA_ARCH_LIST is not '
                         'set: set it to the compute capability of the GPUs to run on, e.g. '
                         'TORCH_CUDA_ARCH_LIST=9.0 for H100/H200')
    return ';'.join(caps)


BUILD_VARS = ('MMCV_WITH_OPS', 'FORCE_CUDA', 'MAX_JOBS', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME')


def build_env(base: Dict[str, str], toolkit: Toolkit, arch: str, jobs: int) -> Dict[str, str]:
    """The environment of the mmcv build."""
    env = dict(base)
    env.update(MMCV_WITH_OPS='1', FORCE_CUDA='1', MAX_JOBS=str(jobs), TORCH_CUDA_ARCH_LIST=arch,
               CUDA_HOME=toolkit.cuda_home,
               PATH=osp.join(toolkit.cuda_home, 'bin') + os.pathsep + base.get('PATH', ''))
    return env


def pip(python: str, *args: str) -> List[str]:
    return [python, '-m', 'pip', 'install', *args]


def torch_command(python: str, version: str = TORCH, index_url: Optional[str] = None):
    return pip(python, f'torch=={version}', *(['--index-url', index_url] if index_url else []))


def toolkit_command(python: str, toolkit: Toolkit) -> List[str]:
    return pip(python, toolkit.pip_spec)


def build_tools_command(python: str) -> List[str]:
    return pip(python, SETUPTOOLS, 'wheel', 'ninja', *NUMPY)


def mmcv_command(python: str, verbose: bool = False) -> List[str]:
    """mmcv from source against the venv's torch; numpy and opencv held in the same command."""
    return pip(python, *(['-v'] if verbose else []), '--no-build-isolation',
               '--no-binary', 'mmcv', '--no-cache-dir', f'mmcv=={MMCV}', 'mmengine==0.10.7',
               SETUPTOOLS, *NUMPY)


def project_command(python: str, torch_dist_version: str) -> List[str]:
    """The rest of the stack and this project; torch kept at the installed version."""
    return pip(python, f'torch=={torch_dist_version}', *PINS, SETUPTOOLS, *NUMPY,
               '-e', '.[tests]')


def mmcv_is_built(probe: dict, cuda: CUDA) -> bool:
    """The venv's mmcv is 2.1.0 and its ops import, compiled with torch's CUDA."""
    return probe.get('mmcv') == MMCV and probe.get('mmcv_cuda') == f'{cuda[0]}.{cuda[1]}'


def default_jobs(env: Dict[str, str]) -> int:
    if env.get('MAX_JOBS', '').isdigit() and int(env['MAX_JOBS']) > 0:
        return int(env['MAX_JOBS'])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ------------------------------------------------------------------ the GPU check

def ops_check(device: str) -> str:
    """nms and RoIAlign of mmcv on ``device``; RoIAlign compared with the CPU kernel."""
    import mmcv
    import torch
    from mmcv.ops import RoIAlign, nms

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]],
                         device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    _, keep = nms(boxes, scores, iou_threshold=0.5)   # IoU(0, 1) = 81 / 119: 1 is dropped
    if keep.device.type != torch.device(device).type or keep.tolist() != [0, 2]:
        raise SetupError(f'mmcv.ops.nms on {device} kept {keep.tolist()}, expected [0, 2]')
    feats = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 100
    rois = torch.tensor([[0, 1., 1., 6., 6.], [1, 0.5, 2., 7., 5.5]])
    align = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    expected = align(feats, rois)
    out = align(feats.to(device), rois.to(device))
    diff = (out.cpu() - expected).abs().max().item()
    if out.device.type != torch.device(device).type or out.shape != (2, 3, 2, 2) or diff > 1e-5:
        raise SetupError(f'mmcv.ops.RoIAlign on {device} differs from the CPU kernel by {diff}')
    where = torch.cuda.get_device_name(0) if device.startswith('cuda') else device
    return (f'mmcv {mmcv.__version__} ops on {where}: nms kept [0, 2]; RoIAlign '
            f'{tuple(out.shape)} equals the CPU kernel (max |diff| {diff:.1e})')


def gpu_check() -> str:
    import torch
    from mmcv.ops import get_compiling_cuda_version
    compiled = get_compiling_cuda_version()
    if compiled == 'not available':
        raise SetupError('mmcv was compiled without CUDA ops (rebuild: --rebuild-mmcv)')
    if not torch.cuda.is_available():
        raise SetupError(f'mmcv has CUDA {compiled} ops but no CUDA GPU is visible here: run '
                         f'`python tools/misc/setup_cuda.py --check-only` on a GPU')
    return ops_check('cuda')


# ------------------------------------------------------------------ the steps

PROBE = r'''
import json, os, sysconfig
from importlib import metadata
paths = sysconfig.get_paths()
info = dict(purelib=paths['purelib'], torch=None, caps=[],
            python_h=os.path.exists(os.path.join(paths['include'], 'Python.h')))
try:
    import torch
except ImportError:
    pass
else:
    info.update(torch=torch.__version__, torch_dist=metadata.version('torch'),
                torch_cuda=torch.version.cuda)
    if torch.cuda.is_available():
        info['caps'] = ['%d.%d' % torch.cuda.get_device_capability(i)
                        for i in range(torch.cuda.device_count())]
    try:
        import mmcv
        info['mmcv'] = mmcv.__version__
        from mmcv.ops import get_compiling_cuda_version
        info['mmcv_cuda'] = get_compiling_cuda_version()
    except Exception as exc:
        info['mmcv_error'] = '%s: %s' % (type(exc).__name__, exc)
print(json.dumps(info))
'''


def run(cmd: List[str], env: Optional[Dict[str, str]] = None, cwd: str = REPO,
        what: Optional[str] = None) -> None:
    shown = ' '.join(f'{k}={shlex.quote(env[k])}' for k in BUILD_VARS if env and k in env)
    print(f'+ {shown + " " if shown else ""}{shlex.join(cmd)}', flush=True)
    code = subprocess.run(cmd, env=env, cwd=cwd).returncode
    if code != 0:
        raise SetupError(f'{what or "the step"} failed (exit {code}): {shlex.join(cmd)}')


def probe_venv(python: str) -> dict:
    result = subprocess.run([python, '-c', PROBE], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ['?'])[-1]
        raise SetupError(f'{python} cannot run: {tail}')
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SetupError(f'{python} printed no probe result: {result.stdout[-200:]!r}') from None


def find_nvccs(env: Dict[str, str]) -> List[Tuple[str, CUDA]]:
    """nvcc of $CUDA_HOME, on PATH, of /usr/local/cuda: (path, CUDA version), first first.

    An nvcc counts where ``bin/..`` is a toolkit (``include/cuda_runtime.h``), as torch takes
    CUDA_HOME to be; a wrapper script such as ``/usr/local/bin/nvcc`` does not.
    """
    paths = [osp.join(env['CUDA_HOME'], 'bin', 'nvcc') if env.get('CUDA_HOME') else None,
             shutil.which('nvcc', path=env.get('PATH', '')), '/usr/local/cuda/bin/nvcc']
    found, seen = [], set()
    for path in paths:
        if not path or not os.access(path, os.X_OK) or osp.realpath(path) in seen:
            continue
        seen.add(osp.realpath(path))
        if not osp.isfile(osp.join(osp.dirname(osp.dirname(path)), 'include',
                                   'cuda_runtime.h')):
            continue
        out = subprocess.run([path, '--version'], capture_output=True, text=True).stdout
        version = parse_nvcc_version(out)
        if version is not None:
            found.append((path, version))
    return found


def nvidia_smi_caps() -> List[str]:
    if shutil.which('nvidia-smi') is None:
        return []
    result = subprocess.run(['nvidia-smi', '--query-gpu=compute_cap', '--format=csv,noheader'],
                            capture_output=True, text=True)
    return parse_compute_caps(result.stdout) if result.returncode == 0 else []


def install_pypi_toolkit(python: str, toolkit: Toolkit, cuda: CUDA) -> None:
    run(toolkit_command(python, toolkit), what='the CUDA toolkit install')
    listing = {sub: os.listdir(osp.join(toolkit.cuda_home, sub)) for sub in ('lib64', 'lib')
               if osp.isdir(osp.join(toolkit.cuda_home, sub))}
    plan = libcudart_link_plan(toolkit.cuda_home, listing)
    if plan is not None:
        link, target = plan
        print(f'+ ln -s {target} {link}', flush=True)
        os.symlink(target, link)
    out = subprocess.run([toolkit.nvcc, '--version'], capture_output=True,
                         text=True).stdout if os.access(toolkit.nvcc, os.X_OK) else ''
    if parse_nvcc_version(out) != tuple(cuda):
        raise SetupError(f'{toolkit.pip_spec} gave no nvcc of CUDA {cuda[0]}.{cuda[1]} at '
                         f'{toolkit.nvcc}')


def setup(args) -> None:
    refusal = torch_refusal(parse_torch_version(args.torch).release)
    if refusal:
        raise SetupError(refusal)
    if shutil.which('g++') is None and shutil.which('c++') is None:
        raise SetupError('no C++ compiler (g++) on PATH: mmcv\'s ops are compiled '
                         '(e.g. apt-get install g++)')
    venv = osp.abspath(args.venv)
    python = osp.join(venv, 'bin', 'python')
    if not os.access(python, os.X_OK):
        run([sys.executable, '-m', 'venv', venv], what='creating the venv')
    run(pip(python, '--upgrade', 'pip'), what='the pip upgrade')

    probe = probe_venv(python)
    if probe['torch'] is None:
        run(torch_command(python, args.torch, args.torch_index), what='the torch install')
        probe = probe_venv(python)
        if probe['torch'] is None:
            raise SetupError(f'torch=={args.torch} was installed but does not import in {venv}')
    version = parse_torch_version(probe['torch'])
    refusal = torch_refusal(version.release)
    if refusal:
        raise SetupError(f'the torch in {venv}: {refusal}')
    cuda = torch_cuda(probe['torch'], probe.get('torch_cuda'))
    if cuda is None:
        raise SetupError(f'the torch in {venv} is {probe["torch"]}, a CPU build (pip keeps it): '
                         f'remove the venv (make clean-venv) or use another one (--venv DIR)')
    print(f'torch {probe["torch"]} (CUDA {cuda[0]}.{cuda[1]}) in {venv}', flush=True)
    if version.release[:2] != parse_torch_version(args.torch).release[:2]:
        print(f'note: the torch of the venv is used, not --torch {args.torch}', flush=True)

    if mmcv_is_built(probe, cuda) and not args.rebuild_mmcv:
        print(f'mmcv {MMCV} with CUDA {cuda[0]}.{cuda[1]} ops is built already: not rebuilt '
              f'(--rebuild-mmcv rebuilds it)', flush=True)
    else:
        if not probe['python_h']:
            raise SetupError(f'Python.h of {python} is missing: install the Python development '
                             f'headers (e.g. apt-get install python3-dev)')
        arch = arch_list(os.environ.get('TORCH_CUDA_ARCH_LIST'),
                         nvidia_smi_caps() or probe['caps'])
        toolkit = choose_toolkit(cuda, find_nvccs(dict(os.environ)), probe['purelib'])
        print(f'nvcc: {toolkit.nvcc} ({toolkit.kind}); TORCH_CUDA_ARCH_LIST={arch}; '
              f'MAX_JOBS={args.jobs}', flush=True)
        if toolkit.kind == 'pypi':
            install_pypi_toolkit(python, toolkit, cuda)
        run(build_tools_command(python), what='the build tools install')
        run(mmcv_command(python, args.verbose), env=build_env(dict(os.environ), toolkit, arch,
                                                              args.jobs),
            what=f'the mmcv {MMCV} build')
    run(project_command(python, probe['torch_dist']), what='the project install')
    run([python, '-c', 'import procd_mm, mmcv.ops, mmdet, mmrazor.models'],
        what='the import check')
    if not args.no_gpu_check:
        run([python, osp.abspath(__file__), '--check-only'], what='the GPU check')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--venv', default=osp.join(REPO, '.venv'),
                        help='the virtual environment (created when missing; default .venv)')
    parser.add_argument('--torch', default=TORCH, help=f'the torch to install (default {TORCH})')
    parser.add_argument('--torch-index', metavar='URL',
                        help='pip index of torch, e.g. https://download.pytorch.org/whl/cu126 '
                        '(default: PyPI, CUDA 13.0)')
    parser.add_argument('--jobs', type=int, default=default_jobs(dict(os.environ)),
                        help='parallel compile jobs (default: $MAX_JOBS, else the usable cores)')
    parser.add_argument('--rebuild-mmcv', action='store_true',
                        help='rebuild mmcv even when the venv has it with CUDA ops')
    parser.add_argument('--no-gpu-check', action='store_true',
                        help='skip the last step (for an image built without a visible GPU)')
    parser.add_argument('--verbose', action='store_true', help='show the compiler output')
    parser.add_argument('--check-only', action='store_true',
                        help='only run mmcv.ops.nms and RoIAlign on the GPU (in the venv)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.check_only:
            print(gpu_check())
        else:
            setup(args)
    except (SetupError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('error: interrupted', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())

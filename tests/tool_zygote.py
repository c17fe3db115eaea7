"""Run ``tools/*.py`` as forked children of one interpreter that imported the stack once.

Starting Python with torch, mmcv, mmdet, mmrazor and procd_mm costs 5-10 s, more
than most of the failing starts the reliability tests run. This module starts one
interpreter that imports them (``python tests/tool_zygote.py``) and, per request,
forks a child that runs the tool as ``python TOOL ARGS`` would: ``__main__`` is the
tool's file, ``sys.argv`` its arguments, the working directory the repository,
stdout / stderr are files (file descriptors 1 and 2, so output written by C code
is captured too), an uncaught exception prints Python's traceback, and the exit
status is the process's. Each run is a fresh process: nothing a tool does reaches
the next one.

``PROCD_TOOL_SUBPROCESS=1`` runs every tool in a plain subprocess instead.
"""
import atexit
import json
import os
import os.path as osp
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from types import SimpleNamespace

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _preload() -> None:
    import procd_mm  # noqa: F401,I001  (first: it repairs the stack for the imports below)
    import mmcv.ops  # noqa: F401
    import mmdet.apis  # noqa: F401
    import mmdet.evaluation  # noqa: F401
    import mmdet.models  # noqa: F401
    import mmengine.runner  # noqa: F401
    import mmrazor.models  # noqa: F401


def _child(request: dict) -> None:
    """Become ``python TOOL ARGS``; never returns."""
    code = 1
    try:
        os.chdir(request['cwd'])
        os.environ.update(request['env'])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        for fd, path in ((1, request['stdout']), (2, request['stderr'])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        signal.alarm(int(request.get('timeout') or 0))  # SIGALRM ends a hung tool
        script = request['argv'][0]
        sys.argv = list(request['argv'])
        sys.path[0] = osp.dirname(osp.abspath(script))
        for extra in reversed(request['env'].get('PYTHONPATH', '').split(os.pathsep)):
            if extra:  # PYTHONPATH as the interpreter would have read it at start
                sys.path.insert(1, extra)
        try:
            runpy.run_path(script, run_name='__main__')
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            traceback.print_exc()
            code = 130
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    _preload()
    replies = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        replies.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({'returncode': os.waitstatus_to_exitcode(status)}) + '\n')
        replies.flush()


class ToolRunner:
    """``run(*args)`` -> object with ``returncode``, ``stdout``, ``stderr`` (like ``run_tool``)."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='tool_zygote_')
        self.count = 0
        self.lock = threading.Lock()
        self.proc = None
        if os.environ.get('PROCD_TOOL_SUBPROCESS') != '1':
            env = dict(os.environ, PYTHONUNBUFFERED='1')
            self.proc = subprocess.Popen([sys.executable, __file__], cwd=REPO, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)

    def run(self, *args, env=None, timeout=600):
        from tests.conftest import run_tool
        if self.proc is None:
            return run_tool(*args, env=env, timeout=timeout, check=False)
        with self.lock:
            self.count += 1
            out = osp.join(self.tmp, f'{self.count}.out')
            err = osp.join(self.tmp, f'{self.count}.err')
            request = dict(argv=list(args), cwd=REPO, env=dict(env or {}, PYTHONUNBUFFERED='1'),
                           stdout=out, stderr=err, timeout=timeout)
            self.proc.stdin.write(json.dumps(request) + '\n')
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
            if not reply:
                raise RuntimeError('the tool zygote died')
            with open(out, encoding='utf-8', errors='replace') as f_out, \
                    open(err, encoding='utf-8', errors='replace') as f_err:
                return SimpleNamespace(returncode=json.loads(reply)['returncode'],
                                       stdout=f_out.read(), stderr=f_err.read(), args=args)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


_RUNNER = None


def tool_runner() -> ToolRunner:
    """The session's runner (started on first use, stopped at exit)."""
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = ToolRunner()
        atexit.register(_RUNNER.close)
    return _RUNNER


if __name__ == '__main__':
    serve()

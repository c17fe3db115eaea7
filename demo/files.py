"""Small file helpers of the demo: its log line, JSON files, settings stamps and the
redirection of a job's output to its own log file."""
import json
import os
import os.path as osp
import sys
import time
from contextlib import contextmanager


def log(msg: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def stamp_ok(path: str, stamp: dict) -> bool:
    if not osp.isfile(path):
        return False
    with open(path, encoding='utf-8') as f:
        return json.load(f) == stamp


def write_json(path: str, data) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)


def read_records(path: str) -> list:
    """The records of a JSON-lines file (mmengine's ``vis_data`` logs), blank lines skipped."""
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def read_json(path: str):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@contextmanager
def output_to(path: str):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, 'a', encoding='utf-8') as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])

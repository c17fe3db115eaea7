"""Reading checkpoints with one-line errors, their content digest, and atomic writes.

Every place that reads a checkpoint the user named (``--resume``, ``load_from``,
``teacher_ckpt``, the checkpoint of ``tools/test.py``, the export tool) goes
through :func:`read_checkpoint`: a missing, empty, truncated or refused file, or
one that unpickles to something other than a dict, is an :class:`InputError`
naming the file. Nothing here ever suggests ``weights_only=False``: a file that
the allow-list of :mod:`procd_mm.compat` refuses is not loaded at all.

Checkpoints the project writes (training, export, weight conversion) carry
``meta['content_sha256']``, a SHA-256 of their weights and optimizer state
(:func:`content_digest`); :func:`read_checkpoint` checks it, so a file whose tensor bytes
changed on disk is refused instead of evaluated. Checkpoints without one (mmdet's,
mmrazor's, older ones) load as before.
"""
import errno
import glob
import hashlib
import os
import os.path as osp
import re
import tempfile
import zipfile
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch

from .errors import InputError

REMOTE_PREFIXES = ('http://', 'https://', 's3://', 'open-mmlab://', 'torchvision://',
                   'mmcls://', 'pavi://', 'modelzoo://')
MAX_LISTED = 10

# torch's generic advice around a refused pickle; everything else it says is the reason.
_BOILERPLATE = ('Weights only load failed', 'Please file an issue', 'Check the documentation',
                'WeightsUnpickler error')


def is_remote(path: str) -> bool:
    return str(path).startswith(REMOTE_PREFIXES)


def _refusal_reason(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_BOILERPLATE)
              and 'weights_only' not in line]
    return useful[0] if useful else type(exc).__name__


def read_checkpoint(path: str, what: str = 'checkpoint', mmap: bool = True) -> dict:
    """``torch.load`` a local checkpoint with ``weights_only=True``; errors name ``path``.

    Raises :class:`InputError` when the file is missing, empty, truncated, refused
    by the allow-list (a pickle that would run code or build other objects), or
    holds something other than a dict.
    """
    if not osp.exists(path):
        raise InputError(f'{what} not found: {path}')
    if not osp.isfile(path):
        raise InputError(f'{what} {path} is not a file')
    if osp.getsize(path) == 0:
        raise InputError(f'{what} {path} is empty (0 bytes)')
    use_mmap = mmap and zipfile.is_zipfile(path)
    try:
        obj = torch.load(path, map_location='cpu', mmap=use_mmap, weights_only=True)
    except Exception as exc:  # torch.load reports a bad file in many exception types
        if 'Weights only load failed' in str(exc):
            raise InputError(f'{what} {path} is refused: it pickles objects other than '
                             f'tensors and plain checkpoint data ({_refusal_reason(exc)}); '
                             'it was not loaded') from None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f'{what} {path} is corrupt or truncated: {reason}') from None
    if not isinstance(obj, dict):
        raise InputError(f'{what} {path} is not a checkpoint: it unpickles to '
                         f'{type(obj).__name__}, not to a dict of weights')
    check_digest(obj, path, what)
    return obj


# ------------------------------------------------------------------ content digest

DIGEST_KEY = 'content_sha256'
DIGESTED = ('state_dict', 'optimizer')  # what the runner writes before any hook runs


def _hash(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu().contiguous()
        h.update(f'T{tensor.dtype}{tuple(tensor.shape)}'.encode())
        if tensor.numel():
            h.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(b'{')
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _hash(h, obj[key])
        h.update(b'}')
    elif isinstance(obj, (list, tuple)):
        h.update(b'[')
        for item in obj:
            _hash(h, item)
        h.update(b']')
    else:
        h.update(repr(obj).encode())


def content_digest(checkpoint: dict) -> str:
    """SHA-256 of the checkpoint's ``state_dict`` and ``optimizer`` (names, dtypes, shapes,
    bytes), the same before saving and after loading."""
    h = hashlib.sha256()
    for key in DIGESTED:
        if key in checkpoint:
            h.update(key.encode())
            _hash(h, checkpoint[key])
    return h.hexdigest()


def add_digest(checkpoint: dict) -> dict:
    """Set ``checkpoint['meta'][DIGEST_KEY]`` (in place); returns ``checkpoint``."""
    if not isinstance(checkpoint.get('meta'), dict):
        checkpoint['meta'] = {}
    checkpoint['meta'][DIGEST_KEY] = content_digest(checkpoint)
    return checkpoint


def check_digest(checkpoint: dict, path: str, what: str = 'checkpoint') -> None:
    """Refuse a checkpoint whose content no longer matches the digest saved with it."""
    meta = checkpoint.get('meta')
    saved = meta.get(DIGEST_KEY) if isinstance(meta, dict) else None
    if saved is not None and saved != content_digest(checkpoint):
        raise InputError(f'{what} {path} is corrupt: its weights differ from the content '
                         f'digest saved with them ({DIGEST_KEY} {str(saved)[:12]}...)')


def state_dict_of(checkpoint: dict, path: str, what: str = 'checkpoint') -> Dict[str, object]:
    """The weights of an mmengine checkpoint (or of a bare state dict), ``module.`` removed."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise InputError(f'{what} {path}: "state_dict" is not a dict of named weights')
    if not any(torch.is_tensor(v) for v in state.values()):
        raise InputError(f'{what} {path} holds no tensors: not a checkpoint of weights')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def listing(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f' ... (+{len(keys) - MAX_LISTED} more)' if len(keys) > MAX_LISTED else ''
    return ', '.join(keys[:MAX_LISTED]) + more


def key_mismatch(own: Dict[str, torch.Tensor], state: Dict[str, object]) -> Tuple[set, set, set]:
    """``(missing, unexpected, 'key (ckpt shape) vs (model shape)' strings)``."""
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    mismatched = {f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state.items()
                  if k in own and hasattr(v, 'shape') and v.shape != own[k].shape}
    return missing, unexpected, mismatched


def describe_mismatch(missing, unexpected, mismatched, against: str = 'model') -> str:
    parts = [f'{name} ({len(keys)}): {listing(keys)}' for name, keys in
             (('missing keys', missing), ('unexpected keys', unexpected),
              (f'shape mismatches (checkpoint vs {against})', mismatched)) if keys]
    return '; '.join(parts)


DISTILLER_PREFIXES = ('architecture.', 'teacher.')


def is_distiller_state(state: Dict[str, object]) -> bool:
    return any(k.startswith(DISTILLER_PREFIXES) for k in state)


def check_fits(model: torch.nn.Module, path: str, config: str, what: str = 'checkpoint',
               checkpoint: Optional[dict] = None,
               export_hint: str = 'export its student first') -> dict:
    """Refuse ``path`` unless its weights load strictly into ``model`` (built from ``config``).

    A distiller checkpoint (``architecture.`` / ``teacher.`` keys) given for a plain
    detector is named as such, with ``export_hint`` (the caller's way to export it).
    Returns the checkpoint read.
    """
    if checkpoint is None:
        checkpoint = read_checkpoint(path, what)
    state = state_dict_of(checkpoint, path, what)
    own = {k[len('module.'):] if k.startswith('module.') else k: v  # a TTA model's wrapped module
           for k, v in model.state_dict().items()}
    if is_distiller_state(state) and not is_distiller_state(own):
        raise InputError(
            f'{what} {path} is a distiller checkpoint (architecture.*/teacher.* weights) and '
            f'{config} is a plain detector: {export_hint}, or use the distiller config')
    missing, unexpected, mismatched = key_mismatch(own, state)
    if missing or unexpected or mismatched:
        raise InputError(f'{what} {path} does not fit the model of {config}: '
                         + describe_mismatch(missing, unexpected, mismatched))
    return checkpoint


def check_classes(checkpoint: dict, classes, path: str, config: str,
                  what: str = 'checkpoint') -> None:
    """Refuse ``checkpoint`` if the classes it was trained on (``meta.dataset_meta``, which
    mmengine writes) differ in names or order from ``classes`` (``config``'s); a checkpoint
    without them (mmdet's, mmrazor's) passes."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    dataset_meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
    saved = dataset_meta.get('classes') if isinstance(dataset_meta, dict) else None
    if saved is None or classes is None or tuple(saved) == tuple(classes):
        return
    differ = 'order' if sorted(saved) == sorted(classes) else 'names'
    raise InputError(f'{what} {path} was trained on the classes {list(saved)}, {config} has '
                     f'{list(classes)} (their {differ} differ)')


def check_optimizer_fits(model: torch.nn.Module, optim_wrapper_cfg, checkpoint: dict,
                         path: str, config: str, what: str = 'resumed checkpoint') -> None:
    """Refuse a resume whose optimizer state has other parameter groups than ``config`` builds.

    (torch would stop later with "loaded state dict contains a parameter group that doesn't
    match the size of optimizer's group", after the work dir was written.)
    """
    import copy

    from mmengine.optim import build_optim_wrapper
    saved = checkpoint.get('optimizer')
    if not isinstance(saved, dict) or 'param_groups' not in saved or optim_wrapper_cfg is None:
        return
    built = build_optim_wrapper(model, copy.deepcopy(optim_wrapper_cfg)).state_dict()
    ours = [len(g['params']) for g in built.get('param_groups', [])]
    theirs = [len(g['params']) for g in saved['param_groups']]
    if ours != theirs:
        raise InputError(f'{what} {path}: its optimizer has parameter groups of '
                         f'{theirs} tensors, the optim_wrapper of {config} builds {ours}')


# ------------------------------------------------------------------ resume


_STEP = re.compile(r'(?:iter|epoch)_(\d+)\.pth$')


def training_checkpoint(path: str, what: str = 'resumed checkpoint') -> dict:
    """Read ``path`` and check that it can be resumed (``meta`` with the position)."""
    checkpoint = read_checkpoint(path, what)
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or 'iter' not in meta or 'state_dict' not in checkpoint:
        raise InputError(f'{what} {path} is not a training checkpoint (no meta.iter / '
                         'state_dict); start from its weights with load_from instead')
    return checkpoint


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint an mmengine runner last wrote in ``work_dir`` (its ``last_checkpoint``
    file), or ``None``."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8', errors='replace') as f:
        return f.read().strip() or None


def find_resume_checkpoint(work_dir: str, warn: Callable[[str], None],
                           what: str = 'resume') -> Optional[Tuple[str, dict]]:
    """``(path, checkpoint read)`` of the checkpoint a bare ``--resume`` continues from, or
    ``None`` if there is none (``what``: the caller's name for the resume, in the messages).

    The one ``last_checkpoint`` names comes first, then the other ``iter_N.pth`` /
    ``epoch_N.pth`` of ``work_dir``, newest step first. An unreadable one is skipped
    with a warning; if none can be read, the error names the first one tried.
    """
    named = last_checkpoint(work_dir)
    candidates: List[str] = [named] if named else []
    steps = []
    for path in glob.glob(osp.join(glob.escape(work_dir), '*.pth')):
        match = _STEP.search(osp.basename(path))
        if match:
            steps.append((int(match.group(1)), path))
    candidates += [p for _, p in sorted(steps, reverse=True)]
    seen, first_error = set(), None
    for path in candidates:
        if osp.abspath(path) in seen:
            continue
        seen.add(osp.abspath(path))
        try:
            return path, training_checkpoint(path, 'latest checkpoint')
        except InputError as exc:
            first_error = first_error or exc
            warn(f'{what}: skipping {exc}')
    if first_error is not None:
        raise InputError(f'{what}: no readable checkpoint in {work_dir} ({first_error})')
    return None


# ------------------------------------------------------------------ atomic writes


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _disk_full(exc: BaseException) -> bool:
    """``exc`` is, or was raised while handling, an ``ENOSPC`` ``OSError``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def write_atomically(path: str, write: Callable, mode: str = 'wb') -> None:
    """Write ``path`` through a temporary file in the same directory, then rename it.

    ``os.replace`` is atomic on POSIX file systems: a reader (or a process killed
    mid-save) sees the old file or the new one, never a partial one. The temporary
    file is hidden and does not end in ``.pth``, so nothing mistakes it for a
    checkpoint. A full disk (``ENOSPC``, which ``torch.save`` reports as a ``RuntimeError``
    chained to it) is an :class:`InputError` naming ``path``; the old file stays.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; keep open()'s permissions
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if osp.exists(tmp):
            os.unlink(tmp)
        if _disk_full(exc):
            kept = 'the old file is kept' if osp.exists(path) else 'nothing was written'
            raise InputError(f'no space left on the device to write {path} ({kept})') from exc
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)

"""Gradient diagnostics of the demo's runs: how strongly each term of the loss (paper Eq. 7:
``λ_stu L_stu + λ_emb L_emb + λ_pro L_pro``) pulls on the student at iteration 0, and how
often the gradient clipping of a run was active."""
import math
from typing import Dict, Optional

from mmengine.config import Config

from .files import read_records

#: The terms of ``L_pro`` (Eq. 6) as ``ProCKD`` logs them; ``L_emb`` terms start with
#: ``loss_emb``; every other loss is the student's own detection loss ``L_stu``.
PRO_TERMS = ('loss_procls_teacher', 'loss_procls_student', 'loss_con')


def loss_term(name: str) -> Optional[str]:
    """``'stu'``, ``'emb'`` or ``'pro'`` for a logged loss, ``None`` for other scalars."""
    if 'loss' not in name:
        return None
    if name in PRO_TERMS:
        return 'pro'
    return 'emb' if name.startswith('loss_emb') else 'stu'


def gradient_norms(cfg: Config, seed: int) -> Dict[str, float]:
    """L2 norms of the gradients of ``L_stu``, ``L_emb`` and ``L_pro`` (as weighted in the
    config) on the student's parameters, for the first training batch of a freshly
    initialised run with ``seed``; plus their sum's norm and the ratios to ``L_stu``.

    Nothing is trained: the model is built, initialised and differentiated once.
    """
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, set_random_seed
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    student = getattr(model, 'student', model)
    params = [p for p in student.parameters() if p.requires_grad]
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
    batch = model.data_preprocessor(next(iter(loader)), True)
    losses = model(**batch, mode='loss')
    groups: Dict[str, list] = {}
    for name, value in losses.items():
        term = loss_term(name)
        if term is not None:
            values = value if isinstance(value, (list, tuple)) else [value]
            groups.setdefault(term, []).extend(v.mean() for v in values)
    grads = {}
    for term, values in groups.items():
        g = torch.autograd.grad(sum(values), params, retain_graph=True, allow_unused=True)
        grads[term] = [torch.zeros_like(p) if x is None else x for x, p in zip(g, params)]

    def norm(tensors) -> float:
        return math.sqrt(sum(float((x ** 2).sum()) for x in tensors))

    out = {term: norm(g) for term, g in grads.items()}
    out['total'] = norm([sum(xs) for xs in zip(*grads.values())])
    for term in ('emb', 'pro'):
        if term in out:
            out[f'{term}_over_stu'] = out[term] / out['stu']
    return out


def clipped_fraction(scalars_file: str, max_norm: float) -> Dict[str, float]:
    """Fraction of logged iterations whose gradient norm exceeded ``max_norm`` (clipping
    was active), with the median and largest norm. Needs a log of every iteration."""
    norms = [float(r['grad_norm']) for r in read_records(scalars_file) if 'grad_norm' in r]
    if not norms:
        raise ValueError(f'{scalars_file} holds no grad_norm (clip_grad off?)')
    ordered = sorted(norms)
    return dict(clipped=sum(n > max_norm for n in norms) / len(norms), steps=len(norms),
                median=ordered[len(ordered) // 2], max=ordered[-1], max_norm=max_norm)

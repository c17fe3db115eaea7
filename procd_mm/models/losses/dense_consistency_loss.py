"""``L_con`` of a dense (one-stage) student: consistency of the level's prior scores."""
from typing import Optional

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils.checks import check_positive_number


@MODELS.register_module()
class DenseConsistencyLoss(BaseModule):
    """KL divergence between the prototype-augmented and the plain class scores of the
    priors of the replaced level (paper Eq. 6, SPEC §3.5 of docs/method.md).

    `arXiv 2212.13180 <https://arxiv.org/abs/2212.13180>`_. For sigmoid classifiers
    (RetinaNet, FCOS, ATSS, GFL, RTMDet) each class is a Bernoulli variable:
    ``L_con = τ² · mean_priors Σ_c KL(Bern(σ(z_con/τ)) ‖ Bern(σ(z_stu/τ)))``; for softmax
    classifiers ``τ² · mean_priors KL(softmax(z_con/τ) ‖ softmax(z_stu/τ))``. The mean runs
    over the priors with label weight > 0 (at least 1). ``z_con`` (the student path's
    scores) is the target, detached by default. Computed in float32.

    Args:
        tau (float): temperature τ_con. Defaults to 1.0.
        detach_target (bool): stop the gradient through ``z_con``. Defaults to True.
        sigmoid (bool): per-class Bernoulli (True, the dense heads' default) or softmax.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, tau: float = 1.0, detach_target: bool = True, sigmoid: bool = True,
                 loss_weight: float = 1.0):
        super().__init__()
        check_positive_number('DenseConsistencyLoss', 'tau', tau)
        self.tau = tau
        self.detach_target = detach_target
        self.sigmoid = sigmoid
        self.loss_weight = loss_weight

    def forward(self, z_con: Tensor, z_stu: Tensor, weight: Optional[Tensor] = None) -> Tensor:
        if z_con.shape != z_stu.shape:
            raise ValueError(f'DenseConsistencyLoss: scores of shapes {tuple(z_con.shape)} and '
                             f'{tuple(z_stu.shape)} are not on the same priors')
        if self.detach_target:
            z_con = z_con.detach()
        a, b = z_con.float() / self.tau, z_stu.float() / self.tau
        if self.sigmoid:
            p = a.sigmoid()
            kl = (p * (F.logsigmoid(a) - F.logsigmoid(b))
                  + (1 - p) * (F.logsigmoid(-a) - F.logsigmoid(-b))).sum(1)
        else:
            kl = F.kl_div(F.log_softmax(b, 1), F.log_softmax(a, 1), reduction='none',
                          log_target=True).sum(1)
        if weight is not None:
            kl = kl * (weight > 0)
            count = max(float((weight > 0).sum()), 1.)
        else:
            count = max(kl.numel(), 1)
        return self.loss_weight * kl.sum() / count * self.tau ** 2

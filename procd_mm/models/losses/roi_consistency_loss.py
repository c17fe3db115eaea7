"""``L_con``: consistency between RoI class distributions (paper Eq. 6)."""
from typing import Sequence

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmrazor.registry import MODELS
from torch import Tensor

from procd_mm.utils.checks import check_positive_number


@MODELS.register_module()
class RoIConsistencyLoss(BaseModule):
    """KL divergence between the prototype-augmented and the plain RoI class distributions.

    Paper Eq. 6, `arXiv 2212.13180 <https://arxiv.org/abs/2212.13180>`_.

    ``L_con = Σ_stages τ² · KL(softmax(y_con / τ) ‖ softmax(y_stu / τ))``, averaged over
    the RoI rows of each stage (0 for a stage without rows). ``y_con`` are the logits
    of the student path (student features augmented with the prototypes), ``y_stu``
    those of the plain student, both on identical sampled RoIs: the rows that read
    the replaced FPN level (docs/method.md). With ``detach_target`` (default) ``y_con`` is the
    fixed target, so ``L_con`` pulls the student toward the augmented prediction and
    gives no gradient to the prototype or augmentation modules. Softmax and KL are
    computed in float32.

    Args:
        tau (float): temperature τ_con. Defaults to 1.0.
        detach_target (bool): stop the gradient through ``y_con``. Defaults to True.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, tau: float = 1.0, detach_target: bool = True, loss_weight: float = 1.0):
        super().__init__()
        check_positive_number('RoIConsistencyLoss', 'tau', tau)
        self.tau = tau
        self.detach_target = detach_target
        self.loss_weight = loss_weight

    def forward(self, augmented_logits: Sequence[Tensor], student_logits: Sequence[Tensor]):
        if len(augmented_logits) != len(student_logits):
            raise ValueError(f'RoIConsistencyLoss: {len(augmented_logits)} augmented stages vs '
                             f'{len(student_logits)} student stages')
        total = 0.
        for y_con, y_stu in zip(augmented_logits, student_logits):
            if y_con.shape != y_stu.shape:
                raise ValueError(f'RoIConsistencyLoss: logits of shapes {tuple(y_con.shape)} and '
                                 f'{tuple(y_stu.shape)} are not on identical RoIs')
            if self.detach_target:
                y_con = y_con.detach()
            target = F.log_softmax(y_con.float() / self.tau, dim=1)
            pred = F.log_softmax(y_stu.float() / self.tau, dim=1)
            kl = F.kl_div(pred, target, reduction='none', log_target=True).sum(1)
            total = total + kl.sum() / max(kl.numel(), 1) * self.tau ** 2
        return self.loss_weight * total

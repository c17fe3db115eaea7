"""Two gloo processes with synchronised BN heads, run by ``test_cpu_sync_batchnorm.py``.

``python -m torch.distributed.run --nproc-per-node 2 -m tests.test_models.sync_bn_worker ROOT``
"""
import copy
import faulthandler
import sys

import torch
import torch.distributed as dist
from mmengine.registry import init_default_scope
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import procd_mm  # noqa: F401
from procd_mm.models.layers import CPUSyncBatchNorm
from tests.test_models.test_procd_distiller import two_images
from tests.test_models.test_prototype_path import build, tiny_student


def check_layer(rank: int) -> None:
    """Unequal batches (8 and 4 rows): outputs, input and weight gradients and running
    statistics equal plain BN over the concatenated batch."""
    torch.manual_seed(0)
    x_all, w_out = torch.randn(12, 4, 5, 5), torch.randn(12, 4, 5, 5)
    rows = slice(0, 8) if rank == 0 else slice(8, 12)
    reference = nn.BatchNorm2d(4)
    x_ref = x_all.clone().requires_grad_()
    (reference(x_ref) * w_out).sum().backward()

    holder = nn.Sequential(nn.SyncBatchNorm(4))
    assert CPUSyncBatchNorm.convert(holder) == 1
    x = x_all[rows].clone().requires_grad_()
    out = holder[0](x)
    (out * w_out[rows]).sum().backward()
    weight_grad = holder[0].weight.grad.clone()
    dist.all_reduce(weight_grad)
    with torch.no_grad():
        expected = nn.functional.batch_norm(x_all, None, None, reference.weight, reference.bias,
                                            True, 0., reference.eps)[rows]
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(x.grad, x_ref.grad[rows], atol=1e-5)
    assert torch.allclose(weight_grad, reference.weight.grad, atol=1e-4)
    assert torch.allclose(holder[0].running_mean, reference.running_mean, atol=1e-6)
    assert torch.allclose(holder[0].running_var, reference.running_var, atol=1e-5)


def small_images(root: str):
    """Two training images at 64x32: no RoI is large enough to read FPN level 3."""
    return two_images(root, (64, 32))


def train_two_steps(model, batch, check) -> None:
    """Two DDP steps of ``model`` on ``batch``; ``check(losses)`` after each."""
    ddp = DistributedDataParallel(model, device_ids=None, broadcast_buffers=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = ddp(**data, mode='loss')
        total, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        check(losses)


def assert_statistics_agree(module) -> None:
    """The running statistics of every CPUSyncBatchNorm below ``module`` equal on both ranks."""
    norms = [m for m in module.modules() if isinstance(m, CPUSyncBatchNorm)]
    stats = torch.cat([torch.cat([m.running_mean, m.running_var]) for m in norms])
    gathered = [torch.empty_like(stats) for _ in range(2)]
    dist.all_gather(gathered, stats)
    assert torch.equal(gathered[0], gathered[1]), 'running statistics differ across ranks'


def check_distiller(rank: int, root: str) -> None:
    """ProC-KD steps with SyncBN heads where only rank 0 has level-3 rows."""
    student, teacher = tiny_student('BN')
    for head in student.roi_head.bbox_head:
        head.norm_cfg = dict(type='SyncBN')
    model = build(student, teacher)
    assert CPUSyncBatchNorm.convert(model) == 12
    rows = []

    def check(losses):
        rows[:] = [r.on_level.numel() for r in model.prototype_branch.path.stages]
        assert all(n > 0 for n in rows) if rank == 0 else all(n == 0 for n in rows), rows
        if rank == 1:
            assert all(float(losses[k]) == 0. for k in ('loss_procls_teacher', 'loss_con'))

    train_two_steps(model, two_images(root) if rank == 0 else small_images(root), check)
    assert_statistics_agree(model.student.roi_head)
    print(f'rank {rank}: level-3 rows per stage {rows}, steps done', flush=True)


def check_dense_distiller(rank: int, root: str) -> None:
    """ProC-KD steps of an RTMDet student (SyncBN everywhere, per-level BN in its head) where
    only rank 0 has positive priors on the stride-32 level."""
    from tests.test_models.test_dense_prototype_path import box_batch
    from tests.test_models.test_dense_prototype_path import build as build_dense
    model = build_dense('rtmdet')
    assert CPUSyncBatchNorm.convert(model) > 0
    positives = []

    def check(losses):
        labels = model.prototype_branch.path.priors.target[0]
        positives[:] = [int((labels < model.student.bbox_head.num_classes).sum())]
        assert positives[0] > 0 if rank == 0 else positives[0] == 0, positives
        if rank == 1:
            assert float(losses['loss_procls_teacher']) == 0.

    train_two_steps(model, box_batch(root, (1024, 512) if rank == 0 else (256, 128)), check)
    assert_statistics_agree(model.student.bbox_head)
    print(f'rank {rank}: RTMDet positives on the level {positives[0]}, steps done', flush=True)


def main():
    faulthandler.dump_traceback_later(240, exit=True)  # a hang fails with the stacks printed
    dist.init_process_group('gloo')
    init_default_scope('mmdet')
    rank = dist.get_rank()
    check_layer(rank)
    check_distiller(rank, sys.argv[1])
    check_dense_distiller(rank, sys.argv[1])
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()

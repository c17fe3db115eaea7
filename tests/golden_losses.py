"""The losses of two training iterations of the tiny distillers, to full precision: a record
that restructuring the tools' launch path and the distiller leaves the numbers bitwise as
they were.

    python -m tests.golden_losses   # rewrite tests/records/golden_losses.json

The runs are those of ``tools/train.py``: the project's launch path builds the runner, on
synthetic data drawn with a fixed seed, with a randomly initialised teacher (seed 0) and one
torch thread.
"""
import json
import os.path as osp
import tempfile
from typing import Dict, List

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GOLDEN = osp.join(REPO, 'tests', 'records', 'golden_losses.json')
#: the two configs of the record: the two-stage path and the dense path
CONFIGS = ('configs/synthetic/procd_tiny.py', 'configs/synthetic/procd-rtmdet_tiny.py')
ITERS = 2


def cpu_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


def iteration_losses(config: str, data_root: str, work_dir: str) -> List[Dict[str, str]]:
    """Per iteration, every logged value of ``train_step`` as ``float.hex``."""
    from mmengine.hooks import Hook

    from procd_mm.apis import build_runner, load_config

    class Record(Hook):
        def __init__(self):
            self.values = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.values.append({k: float(v).hex() for k, v in sorted(outputs.items())})

    root = data_root.rstrip('/') + '/'
    cfg = load_config(osp.join(REPO, config), {
        'model.teacher_ckpt': None, 'model.teacher_strict': False,
        'train_cfg.max_iters': ITERS, 'train_cfg.val_interval': 1000,
        'train_dataloader.dataset.data_root': root,
        'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None,
        'default_hooks.checkpoint.interval': 1000,
    })
    cfg.work_dir = work_dir
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = build_runner(cfg, config, ('train', ))
        record = Record()
        runner.register_hook(record)
        runner.train()
    finally:
        torch.set_num_threads(threads)
    return record.values


def synthetic_data(root: str) -> str:
    from procd_mm.datasets.preparation.synthetic_cityscapes import generate_synthetic_cityscapes
    generate_synthetic_cityscapes(root, seed=0, num_train=8, num_val=4)
    return root


def main() -> None:
    import procd_mm  # noqa: F401
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic_data(osp.join(tmp, 'data'))
        record = dict(torch=torch.__version__, cpu_capability=cpu_capability(), configs={
            config: iteration_losses(config, root, osp.join(tmp, osp.basename(config)))
            for config in CONFIGS})
    with open(GOLDEN, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=1)
    print(f'written {GOLDEN}')


if __name__ == '__main__':
    main()

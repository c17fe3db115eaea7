"""procd_mm/apis/runner.py: mmengine's ``Runner.from_cfg`` with the pre-built model and data.

The seam is mmengine's: ``from_cfg`` calls the class with keyword arguments named as the
config keys. If that changes, these tests fail."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from procd_mm.apis import build_runner, load_config
from procd_mm.apis.runner import prebuilt_runner_class
from procd_mm.utils import InputError
from tests.conftest import REPO

STUDENT = f'{REPO}/configs/synthetic/student_tiny.py'


def _cfg(root, work_dir):
    root = root.rstrip('/') + '/'
    cfg = load_config(STUDENT, {'train_dataloader.dataset.data_root': root,
                                'val_dataloader.dataset.data_root': root,
                                'val_evaluator.ann_file':
                                    root + 'annotations/instancesonly_filtered_gtFine_val.json'})
    cfg.work_dir = str(work_dir)
    return cfg


def test_from_cfg_passes_the_prebuilt_objects_and_builds_the_rest(tmp_path):
    model = torch.nn.Linear(2, 2)
    cls = prebuilt_runner_class(Runner)
    assert issubclass(cls, Runner) and cls.__name__ == 'PrebuiltRunner'
    cfg = Config(dict(model=dict(type='NoSuchModel'), work_dir=str(tmp_path / 'w'),
                      experiment_name='prebuilt', default_scope='mmengine'))
    runner = cls.from_cfg(cfg, dict(model=model))
    assert runner.model is model and runner.work_dir == str(tmp_path / 'w')
    # without prebuilt objects the class is mmengine's Runner
    with pytest.raises(KeyError, match='NoSuchModel'):
        cls.from_cfg(cfg)


def test_nothing_is_written_before_the_inputs_are_usable(synthetic_root, tmp_path):
    cfg = _cfg(synthetic_root, tmp_path / 'work')
    cfg.train_dataloader.dataset.pipeline[1].type = 'NoSuchTransform'
    with pytest.raises(InputError, match=r"train_dataloader\.dataset\.pipeline\.1\.type="
                                         r"'NoSuchTransform': unknown type"):
        build_runner(cfg, STUDENT, ('train', ))
    assert not osp.exists(tmp_path / 'work')


def test_the_built_runner_holds_the_checked_model_and_loaders(synthetic_root, tmp_path):
    cfg = _cfg(synthetic_root, tmp_path / 'work')
    seen = []
    runner = build_runner(cfg, STUDENT, ('train', 'val'), check_model=seen.append)
    assert seen == [runner.model]  # the model checked is the one the runner trains
    assert type(runner).__name__ == 'PrebuiltRunner' and isinstance(runner, Runner)
    assert not isinstance(runner._train_dataloader, dict)  # built by the pre-flight checks
    assert runner.seed == cfg.randomness.seed


def test_an_unknown_runner_type_is_one_line(synthetic_root, tmp_path):
    cfg = _cfg(synthetic_root, tmp_path / 'work')
    cfg.runner_type = 'NoSuchRunner'
    with pytest.raises(InputError, match="runner_type='NoSuchRunner': unknown runner type"):
        build_runner(cfg, STUDENT)

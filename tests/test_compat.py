"""procd_mm.compat: mmrazor on torch 2.13, mmengine checkpoints under weights_only loading."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

import procd_mm  # noqa: F401
from procd_mm.compat import history_buffer_getattr

SNAPSHOT = """
import json, sys
from mmdet.utils import register_all_modules
register_all_modules()
from mmdet import registry
names = ('MODELS', 'DATASETS', 'METRICS', 'TRANSFORMS', 'HOOKS', 'TASK_UTILS')
def snap():
    return {n: {k: f'{v.__module__}.{v.__qualname__}'
                for k, v in getattr(registry, n).module_dict.items()} for n in names}
before = snap()
import procd_mm
print(json.dumps([before, snap()]))
"""


def test_importing_procd_mm_only_adds_registry_entries():
    import json
    out = subprocess.run([sys.executable, '-c', SNAPSHOT], capture_output=True, text=True,
                         check=True).stdout
    before, after = json.loads(out.strip().splitlines()[-1])
    for registry, entries in before.items():
        assert {k: after[registry][k] for k in entries} == entries, registry
    assert 'FoggyCityscapesDataset' in after['DATASETS']
    assert 'PerClassAP50Metric' in after['METRICS']


def test_mmrazor_distillation_parts_build_and_run():
    from mmrazor.models import ChannelWiseDivergence, FBKDLoss
    from mmrazor.registry import MODELS
    assert MODELS.get('SingleTeacherDistill') is not None
    assert MODELS.get('ConfigurableDistiller') is not None
    s, t = torch.randn(2, 4, 5, 5, requires_grad=True), torch.randn(2, 4, 5, 5)
    loss = ChannelWiseDivergence(tau=1.0, loss_weight=1.0)(s, t)
    loss.backward()
    assert torch.isfinite(loss) and s.grad.abs().sum() > 0
    assert FBKDLoss() is not None
    from mmrazor.structures.quantization import BackendConfigs
    with pytest.raises(KeyError):
        BackendConfigs['native']


def test_mmengine_checkpoint_objects_load_with_weights_only(tmp_path):
    buffer = HistoryBuffer()
    for value in (1.0, 2.0, 3.0):
        buffer.update(value)
    checkpoint = {
        'state_dict': {'w': torch.ones(2)},
        'message_hub': {'log_scalars': {'loss': buffer}, 'runtime_info': {
            'seed': np.int64(3), 'scale': np.float32(0.5), 'arr': np.arange(3)}},
    }
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['message_hub']['log_scalars']['loss'].mean() == 2.0
    assert loaded['message_hub']['runtime_info']['seed'] == 3
    assert np.array_equal(loaded['message_hub']['runtime_info']['arr'], np.arange(3))


class Exploit:
    def __reduce__(self):
        return (print, ('pwned',))


class GetattrExploit:
    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__class__'))


@pytest.mark.parametrize('payload', [Exploit(), GetattrExploit()])
def test_other_objects_are_still_refused(payload, tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': payload}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_restricted_getattr():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='only HistoryBuffer methods'):
        history_buffer_getattr(torch, 'save')
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(HistoryBuffer, '__class__')


@pytest.mark.parametrize('seam', __import__('procd_mm.compat_seams').compat_seams.SEAMS,
                         ids=lambda s: f'{s.library}:{s.where}')
def test_every_upstream_seam_holds_on_the_pinned_stack(seam):
    """Each upstream detail the project relies on is as it was written for; a release that
    changes it fails here, naming the module that relies on it."""
    assert seam.check(), f'{seam.library}: {seam.what} ({seam.where})'


def test_other_versions_warn_naming_the_seams_to_recheck():
    from procd_mm.compat_seams import PINNED, check_versions
    assert check_versions(dict(PINNED)) == []
    with pytest.warns(UserWarning, match=r'written for mmengine 0\.10\.7, found 0\.11\.0; '
                                         r're-check: .*apis/runner\.py: Runner\.from_cfg'):
        messages = check_versions(dict(PINNED, mmengine='0.11.0'))
    assert len(messages) == 1 and 'mmdet' not in messages[0].split(';')[0]


def test_the_seam_checks_fail_when_the_detail_changes(monkeypatch):
    """Two of the checks against a changed upstream: a renamed private method and another
    registry message."""
    from mmengine.hooks import CheckpointHook
    from mmengine.registry import Registry

    from procd_mm import compat_seams
    monkeypatch.setattr(CheckpointHook, '_save_checkpoint_with_step',
                        lambda self, runner, step: None)
    assert not compat_seams._save_checkpoint_with_step()

    def build(self, cfg, *args, **kwargs):
        raise KeyError(f'Unknown type {cfg["type"]}')
    monkeypatch.setattr(Registry, 'build', build)
    assert not compat_seams._unknown_type_message()

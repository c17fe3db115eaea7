"""Two training iterations of the tiny distillers (the two-stage and the dense path) give the
recorded losses (tests/golden_losses.py): bitwise on a machine like the one that wrote the
record (the same torch and CPU kernels), within float32 rounding elsewhere."""
import json

import pytest
import torch

from tests.golden_losses import CONFIGS, GOLDEN, cpu_capability, iteration_losses, synthetic_data


@pytest.fixture(scope='module')
def golden():
    with open(GOLDEN, encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return synthetic_data(str(tmp_path_factory.mktemp('golden_data')))


@pytest.mark.parametrize('config', CONFIGS)
def test_two_iterations_give_the_recorded_losses(config, golden, data_root, tmp_path):
    ours = iteration_losses(config, data_root, str(tmp_path))
    theirs = golden['configs'][config]
    assert [sorted(step) for step in ours] == [sorted(step) for step in theirs]
    same_kernels = (golden['torch'], golden['cpu_capability']) == (torch.__version__,
                                                                 cpu_capability())
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for key in b:
            x, y = float.fromhex(a[key]), float.fromhex(b[key])
            if same_kernels:
                assert a[key] == b[key], (config, step, key, x, y)
            else:  # other CPU kernels (e.g. AVX2 for AVX512) round float32 sums differently
                assert x == pytest.approx(y, rel=1e-4, abs=1e-6), (config, step, key)

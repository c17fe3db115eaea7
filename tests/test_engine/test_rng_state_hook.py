"""procd_mm/engine/hooks/rng_state_hook.py: the states it saves put every generator back."""
import random

import numpy as np
import torch

from procd_mm.engine.hooks.rng_state_hook import capture_rng_state, restore_rng_state


def _draws():
    return (random.random(), float(np.random.rand()), float(np.random.randn()),
            torch.rand(3).tolist())


def test_restore_gives_the_same_draws_after_a_save_and_load(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # numpy now caches a gaussian: part of its state
    state = capture_rng_state()
    expected = _draws()
    # through a checkpoint, as the hook stores it
    torch.save({'rng_state': state}, tmp_path / 'c.pth')
    loaded = torch.load(tmp_path / 'c.pth', weights_only=True)['rng_state']
    _draws()
    _draws()  # the generators moved on
    restore_rng_state(loaded)
    assert _draws() == expected


def test_the_state_is_plain_checkpoint_data():
    """Tensors, numbers, strings and tuples only: it loads with ``weights_only=True``."""
    state = capture_rng_state()
    assert set(state) == {'python', 'numpy', 'torch', 'cuda'}
    assert isinstance(state['torch'], torch.Tensor)
    assert isinstance(state['numpy']['keys'], torch.Tensor)
    assert state['numpy']['keys'].dtype == torch.int64

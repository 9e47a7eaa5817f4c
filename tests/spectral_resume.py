"""A training with the spectral regularizer on every step, run whole and, on a twin,
stopped after one epoch and resumed from its state file: the resume must be bitwise."""

import pytest
import torch

from modcore.nn import load_dataset, train
from modcore.nn.regularizers import Spectral


class _Stop(Exception):
    pass


def _stop_after_one(history):
    if len(history.loss) == 1:
        raise _Stop


def whole_and_resumed(make_model, tmp_path, *, lr):
    """``(whole, resumed, warm)``: two models from ``make_model()`` trained for two
    epochs, the second stopped after one and resumed; ``warm`` is the solver's start
    saved in the state between the two."""
    ds = load_dataset("line", n_train=128, n_test=32, seed=0)
    settings = Spectral(strength=1.0, n_eigenvalues=2, every=1)
    options = dict(epochs=2, batch_size=32, lr=lr, seed=0, progress=False, spectral=settings)
    whole, resumed = make_model(), make_model()
    train(whole, ds, **options)
    state = tmp_path / "s.pt"
    with pytest.raises(_Stop):
        train(resumed, ds, state=state, on_epoch=_stop_after_one, **options)
    warm = torch.load(state, weights_only=True)["spectral_warm"]
    train(resumed, ds, state=state, **options)
    return whole, resumed, warm

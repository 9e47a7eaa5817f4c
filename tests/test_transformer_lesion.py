"""Lesions of a transformer's MLP neurons (modcore.nn.lesion.transformer): silencing neuron j
of block b by the hook equals zeroing that neuron's W_out weights by hand in a copy, for
torch.nn layers, Hugging Face GPT-2 and TransformerLens; lesion_study's accuracies under both
views equal accuracies computed by hand on such copies."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

import modcore
from modcore.nn import lesion_study
from modcore.nn.lesion.transformer import silenced, transformer_units
from test_transformer import D_MLP, HEADS, N_POS, VOCAB, D, gpt2, lens, randomize_norms


def encoder(seed=3):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(
        D, HEADS, D_MLP, dropout=0.0, batch_first=True, norm_first=True
    )
    return randomize_norms(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), seed)


def zeroed(model, kind, block, neurons):
    """A copy with the neurons' outgoing weights zeroed, by hand for each kind of model."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        if kind == "nn":  # linear2.weight is (out, in): column j
            twin.layers[block].linear2.weight[:, neurons] = 0
        elif kind == "gpt2":  # Conv1D weight is (in, out): row j
            twin.transformer.h[block].mlp.c_proj.weight[neurons, :] = 0
        else:  # TransformerLens W_out is (d_mlp, d_model): row j
            twin.blocks[block].mlp.W_out[neurons, :] = 0
    return twin


def logits(model, x):
    with torch.no_grad():
        out = model(x)
    return getattr(out, "logits", out)


def kinds():
    torch.manual_seed(0)
    floats = torch.randn(6, N_POS, D)
    tokens = torch.randint(0, VOCAB, (6, N_POS))
    return [
        ("nn", encoder, floats, ["layers.0.linear1", "layers.1.linear1"]),
        ("gpt2", gpt2, tokens, ["transformer.h.0.mlp", "transformer.h.1.mlp"]),
        ("lens", lens, tokens, ["blocks.0.mlp", "blocks.1.mlp"]),
    ]


@pytest.mark.parametrize("kind", ["nn", "gpt2", "lens"])
def test_silencing_a_neuron_equals_zeroing_its_w_out_weights_by_hand(kind):
    (_, make, x, mlps) = next(k for k in kinds() if k[0] == kind)
    model = make().eval()
    y = torch.zeros(logits(model, x).shape[:-1], dtype=torch.long)
    for view in ("blocks", "virtual"):
        units, _, _ = transformer_units(model, (x, y), view)
        for block, name in enumerate(mlps):
            g = units.names.index(name)
            for neurons in ([3], [0, 5, 11]):
                mask = torch.ones(D_MLP)
                mask[neurons] = 0
                with silenced(units, {g: mask}):
                    got = logits(model, x)
                want = logits(zeroed(model, kind, block, neurons), x)
                torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
                assert not torch.allclose(got, logits(model, x))  # the lesion did something
    torch.testing.assert_close(logits(model, x), logits(make().eval(), x))  # hooks removed


def accuracy_by_hand(model, x, y, block, neurons):
    pred = logits(zeroed(model, "gpt2", block, neurons), x).argmax(-1)
    scored = y >= 0
    return float((pred[scored] == y[scored]).float().mean())


@pytest.mark.parametrize("view", ["blocks", "virtual"])
def test_lesion_study_accuracies_equal_copies_with_zeroed_weights(view):
    model = gpt2(seed=4).eval()
    torch.manual_seed(1)
    x = torch.randint(0, VOCAB, (30, N_POS))
    y = logits(model, x).argmax(-1)  # the intact model is right everywhere scored
    y[:, :2] = -1  # the first two positions are not scored
    study = lesion_study(
        model,
        (x, y),
        view=view,
        n_clusters=3,
        random_lesions=3,
        double=False,
        seed=0,
        progress=False,
    )
    mlps = ["transformer.h.0.mlp", "transformer.h.1.mlp"]
    assert study.n_test == 30 * (N_POS - 2) and study.base_accuracy == 1.0
    assert study.single and {s.group for s in study.single} <= set(mlps)
    clustering = modcore.spectral_cluster(model, view=view, n_clusters=3, seed=0)
    for s in study.single:
        block = mlps.index(s.group)
        labels = (clustering[s.group] if view == "blocks" else clustering).labels
        group = (clustering[s.group] if view == "blocks" else clustering).group_names.index(s.group)
        np.testing.assert_array_equal(s.neurons, np.flatnonzero(labels[group] == s.module))
        assert s.accuracy == pytest.approx(accuracy_by_hand(model, x, y, block, s.neurons))
        live = np.flatnonzero(labels[group] >= 0)
        # 3 random lesions, more where the adaptive rule topped a candidate up
        assert len(s.random_neurons) >= 3 and s.random_neurons.shape[1] == s.size
        assert np.isin(s.random_neurons, live).all()
        first = accuracy_by_hand(model, x, y, block, s.random_neurons[0])
        assert 1 - s.random_drops[0] == pytest.approx(first)


def test_only_mlp_neurons_are_lesioned_and_other_groups_are_refused():
    model = gpt2(seed=4).eval()
    x = torch.randint(0, VOCAB, (4, N_POS))
    y = torch.zeros(4, N_POS, dtype=torch.long)
    units, _, _ = transformer_units(model, (x, y), "virtual")
    assert [units.names[g] for g in units.hidden] == ["transformer.h.0.mlp", "transformer.h.1.mlp"]
    for name in ("transformer.h.0.attn", "tokens", "logits"):
        with pytest.raises(ValueError, match="lesions silence MLP neurons only"):
            units.check_group(name)
    with pytest.raises(ValueError, match=r"labels must have shape \(4, 5\)"):
        transformer_units(model, (x, y[:, 0]), "blocks")
    with pytest.raises(ValueError, match="no position is scored"):
        transformer_units(model, (x, -torch.ones(4, N_POS, dtype=torch.long)), "blocks")
    with pytest.raises(ValueError, match=r"view='blocks'.*view='virtual'"):
        lesion_study(model, (x, y), n_clusters=2, random_lesions=2, progress=False)
    with pytest.raises(ValueError, match="view must be"):
        lesion_study(model, (x, y), view="heads", n_clusters=2, progress=False)

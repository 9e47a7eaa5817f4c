"""view= through every function that takes a network (spectral_cluster, ncut_significance,
ncut_curve, eigengap, stability, sweep, the sweep command): "virtual" is the function on the
virtual graph, "blocks" one result per MLP, each the function on that MLP's network; checked
against the function on the networks modcore.network.transformer builds, whose graphs
tests/test_transformer.py checks by hand."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

import modcore
import modcore.network.transformer as mt
from test_transformer import D_MLP, HEADS, D, gpt2, randomize_norms


def stack(seed=3):
    """Two pre-LN encoder layers: two MLPs."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(D, HEADS, D_MLP, dropout=0.0, norm_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    return randomize_norms(model, seed)


BLOCKS = ["layers.0.linear1", "layers.1.linear1"]


@pytest.mark.filterwarnings("ignore::modcore.EigengapWarning")  # random weights: no clear k
def test_eigengap_and_stability_take_both_views():
    m = stack()
    gap_opts = dict(max_k=6, n_shuffles=3, seed=0)
    virtual = modcore.eigengap(m, view="virtual", **gap_opts)
    direct = modcore.eigengap(mt.virtual_network(m), **gap_opts)
    np.testing.assert_array_equal(virtual.eigenvalues, direct.eigenvalues)
    np.testing.assert_array_equal(virtual.shuffled_gaps, direct.shuffled_gaps)
    assert virtual.network_fingerprint == mt.virtual_network(m).fingerprint
    per_block = modcore.eigengap(m, view="blocks", **gap_opts)
    assert list(per_block) == BLOCKS
    for name, net in mt.block_networks(m).items():
        alone = modcore.eigengap(net, **gap_opts)
        np.testing.assert_array_equal(per_block[name].eigenvalues, alone.eigenvalues)
        np.testing.assert_array_equal(per_block[name].shuffled_gaps, alone.shuffled_gaps)
        assert per_block[name].network_fingerprint == net.fingerprint

    opts = dict(n_clusters=3, n_seeds=2, assign_labels="kmeans", seed=1)
    virtual = modcore.stability(m, view="virtual", **opts)
    np.testing.assert_array_equal(
        virtual.ncuts, modcore.stability(mt.virtual_network(m), **opts).ncuts
    )
    per_block = modcore.stability(m, view="blocks", **opts)
    assert list(per_block) == BLOCKS
    for name, net in mt.block_networks(m).items():
        np.testing.assert_array_equal(per_block[name].ncuts, modcore.stability(net, **opts).ncuts)
        assert per_block[name].network_fingerprint == net.fingerprint


def test_every_function_refuses_as_spectral_cluster_does():
    m = stack()
    for func in (modcore.eigengap, modcore.stability):
        with pytest.raises(ValueError, match=r"view='blocks'.*view='virtual'"):
            func(m)
        with pytest.raises(ValueError, match="view must be"):
            func(m, view="mlp")
        with pytest.raises(ValueError, match="applies to transformer"):
            func([np.ones((3, 3))], view="virtual")
        with pytest.raises(ValueError, match="list is not a transformer"):
            func([np.ones((3, 3))], view="blocks")


def test_blocks_view_takes_the_network_by_keyword_and_settings():
    m = stack()
    settings = modcore.ClusterSettings(n_clusters=3)
    by_keyword = modcore.spectral_cluster(network=m, view="blocks", settings=settings)
    positional = modcore.spectral_cluster(m, view="blocks", n_clusters=3)
    assert list(by_keyword) == BLOCKS
    assert [c.ncut for c in by_keyword.values()] == [c.ncut for c in positional.values()]
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_cluster'"):
        modcore.spectral_cluster(m, view="blocks", n_cluster=3)


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


SWEEP = dict(n_clusters=3, n_shuffles=5, seed=2, progress=False)


def test_sweep_takes_both_views(pd):
    models = {"a": stack(3), "b": stack(4)}
    table = modcore.sweep(models, view="blocks", **SWEEP)
    assert list(table["name"]) == [f"{n}/{b}" for n in models for b in BLOCKS]
    for row in table.itertuples():
        name, block = row.name.split("/", 1)
        sig = modcore.ncut_significance(mt.block_networks(models[name])[block], **SWEEP)
        assert row.ncut == sig.ncut and row.p_value == sig.p_value
        assert row.shuffled_mean == pytest.approx(sig.shuffled_mean, rel=1e-12)
    table = modcore.sweep(models, view="virtual", **SWEEP)
    assert list(table["name"]) == ["a", "b"]
    for row in table.itertuples():
        sig = modcore.ncut_significance(mt.virtual_network(models[row.name]), **SWEEP)
        assert row.ncut == sig.ncut and row.p_value == sig.p_value
    with pytest.raises(ValueError, match=r"network 'a': .*view='blocks'"):
        modcore.sweep(models, **SWEEP)
    with pytest.raises(ValueError, match=r"network 'mlp': list is not a transformer"):
        modcore.sweep({"mlp": [np.ones((3, 3))]}, view="blocks", **SWEEP)
    with pytest.raises(ValueError, match="view must be"):
        modcore.sweep(models, view="mlp", **SWEEP)


def test_sweep_command_reads_gpt2_folders_in_both_views(pd, tmp_path, capsys):
    from modcore.cli import main as cli

    folders = []
    for seed in (8, 9):
        folders.append(tmp_path / f"gpt{seed}")
        gpt2(seed=seed).save_pretrained(folders[-1])
    common = ["--n-clusters", "3", "--n-shuffles", "5", "--seed", "2", "--quiet"]
    out = tmp_path / "blocks.csv"
    argv = ["sweep", *map(str, folders), "--view", "blocks", *common, "--csv", str(out)]
    assert cli.main(argv) == 0
    table = pd.read_csv(out)
    mlps = ["transformer.h.0.mlp", "transformer.h.1.mlp"]
    assert list(table["name"]) == [f"{f}/{b}" for f in folders for b in mlps]
    for seed, folder in zip((8, 9), folders):
        for block, net in mt.block_networks(gpt2(seed=seed)).items():
            sig = modcore.ncut_significance(net, n_clusters=3, n_shuffles=5, seed=2)
            (ncut,) = table.loc[table["name"] == f"{folder}/{block}", "ncut"]
            assert ncut == pytest.approx(sig.ncut, rel=1e-12)
    weights = tmp_path / "w.npz"
    np.savez(weights, np.ones((3, 3)))
    assert cli.main(["sweep", str(weights), "--view", "blocks", *common]) == 2
    assert "w.npz is not a folder: a transformer is read from" in capsys.readouterr().err
    out = tmp_path / "virtual.csv"
    argv = ["sweep", str(folders[0]), "--view", "virtual", *common, "--csv", str(out)]
    assert cli.main(argv) == 0
    sig = modcore.ncut_significance(
        mt.virtual_network(gpt2(seed=8)), n_clusters=3, n_shuffles=5, seed=2
    )
    assert pd.read_csv(out)["ncut"].tolist() == [pytest.approx(sig.ncut, rel=1e-12)]

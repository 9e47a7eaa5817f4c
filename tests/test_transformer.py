"""Transformers (modcore.network.transformer): both views against graphs computed here, from the
raw parameter tensors with numpy alone (no modcore code), for each kind of model read."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

import modcore
import modcore.network.transformer as mt
from modcore.network.convert import as_network

D, HEADS, D_MLP, VOCAB, N_POS = 8, 2, 12, 7, 5


def arr(t):
    return t.detach().double().numpy()


def ln(norm):
    """A LayerNorm as the linear map of row vectors x -> x @ ln: centring, then its gain."""
    d = norm.normalized_shape[0]
    return (np.eye(d) - np.ones((d, d)) / d) @ np.diag(arr(norm.weight))


def mha_ov(attn):
    """Per head, the (d, d) map x -> head output of nn.MultiheadAttention (torch layout:
    in_proj_weight rows [Q; K; V], each (out, in); out_proj.weight (out, in))."""
    d, h = attn.embed_dim, attn.num_heads
    dh = d // h
    wv, wo = arr(attn.in_proj_weight)[2 * d :], arr(attn.out_proj.weight)
    return [wv[i * dh : (i + 1) * dh].T @ wo[:, i * dh : (i + 1) * dh].T for i in range(h)]


def gpt2_ov(attn):
    """The same for GPT-2, whose Conv1D weights are (in, out): c_attn = [W_Q | W_K | W_V]."""
    w, wo = arr(attn.c_attn.weight), arr(attn.c_proj.weight)
    d = w.shape[0]
    dh = d // attn.num_heads
    wv = w[:, 2 * d :]
    return [wv[:, i * dh : (i + 1) * dh] @ wo[i * dh : (i + 1) * dh] for i in range(attn.num_heads)]


def dense(net):
    return net.adjacency().toarray()


def expected(groups, blocks):
    """The symmetric adjacency over ``groups`` [(name, size)] with ``blocks`` {(a, b): E}."""
    names = [g for g, _ in groups]
    off = np.concatenate([[0], np.cumsum([s for _, s in groups])])
    a = np.zeros((off[-1], off[-1]))
    for (src, dst), e in blocks.items():
        i, j = names.index(src), names.index(dst)
        a[off[i] : off[i + 1], off[j] : off[j + 1]] = e
    return a + a.T


def norms(left, right, path):
    """E[u, v] = ||L_u @ path @ R_v||_F, one pair at a time."""
    return np.array([[np.linalg.norm(lu @ path @ rv) for rv in right] for lu in left])


def rows(m):
    return [m[i : i + 1] for i in range(m.shape[0])]


def cols(m):
    return [m[:, j : j + 1] for j in range(m.shape[1])]


def randomize_norms(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 2 - 0.5)
    return model


def layer(norm_first, seed=0):
    torch.manual_seed(seed)
    return randomize_norms(
        nn.TransformerEncoderLayer(D, HEADS, D_MLP, dropout=0.0, norm_first=norm_first), seed
    )


# -- torch.nn ------------------------------------------------------------------------


def test_post_ln_encoder_layer_virtual_graph_by_hand():
    m = layer(norm_first=False)
    ov, n1, n2 = mha_ov(m.self_attn), ln(m.norm1), ln(m.norm2)
    w1, w2 = arr(m.linear1.weight).T, arr(m.linear2.weight).T  # (d, n), (n, d)
    eye = np.eye(D)
    # x = norm1(x + attn(x)); x = norm2(x + mlp(x)): norm1 lies between the heads and
    # the MLP, both norms between the heads (or the input) and the output.
    e = {
        ("input", "self_attn"): norms(rows(eye), ov, eye),
        ("input", "linear1"): np.abs(n1 @ w1),
        ("input", "output"): np.abs(n1 @ n2),
        ("self_attn", "linear1"): norms(ov, cols(w1), n1),
        ("self_attn", "output"): norms(ov, cols(eye), n1 @ n2),
        ("linear1", "output"): np.abs(w2 @ n2),
    }
    groups = [("input", D), ("self_attn", HEADS), ("linear1", D_MLP), ("output", D)]
    net = mt.virtual_network(m)
    assert list(zip(net.names, net.sizes)) == groups
    np.testing.assert_allclose(dense(net), expected(groups, e), rtol=1e-10, atol=1e-12)


def test_pre_ln_encoder_stack_with_final_norm_virtual_graph_by_hand():
    torch.manual_seed(1)
    one = nn.TransformerEncoderLayer(D, HEADS, D_MLP, dropout=0.0, norm_first=True)
    m = nn.TransformerEncoder(one, 2, norm=nn.LayerNorm(D), enable_nested_tensor=False)
    with torch.no_grad():  # the stack copies its layer: make the two differ
        for p in m.layers[1].parameters():
            p.copy_(torch.randn_like(p))
    randomize_norms(m, 1)
    eye = np.eye(D)
    # Pre-LN: each norm folds into the read after it; the final norm into the output's.
    reads = {}
    writes = {"input": rows(eye)}
    order = ["input"]
    for i, lay in enumerate(m.layers):
        a, f = f"layers.{i}.self_attn", f"layers.{i}.linear1"
        n1, n2 = ln(lay.norm1), ln(lay.norm2)
        ov = mha_ov(lay.self_attn)
        reads[a] = [n1 @ o for o in ov]
        writes[a] = [n1 @ o for o in ov]  # a head's factor is its whole read-then-move map
        reads[f] = cols(n2 @ arr(lay.linear1.weight).T)
        writes[f] = rows(arr(lay.linear2.weight).T)
        order += [a, f]
    reads["output"] = cols(ln(m.norm))
    order.append("output")
    e = {
        (src, dst): norms(writes[src], reads[dst], eye)
        for i, src in enumerate(order)
        if src in writes
        for dst in order[i + 1 :]
    }
    sizes = {"input": D, "output": D}
    groups = [(g, sizes.get(g, HEADS if "attn" in g else D_MLP)) for g in order]
    net = mt.virtual_network(m)
    assert list(zip(net.names, net.sizes)) == groups
    np.testing.assert_allclose(dense(net), expected(groups, e), rtol=1e-10, atol=1e-12)


def test_multihead_attention_alone_has_no_input_to_output_edge():
    torch.manual_seed(2)
    m = nn.MultiheadAttention(D, HEADS)
    ov = mha_ov(m)
    eye = np.eye(D)
    groups = [("input", D), ("heads", HEADS), ("output", D)]
    e = {
        ("input", "heads"): norms(rows(eye), ov, eye),
        ("heads", "output"): norms(ov, cols(eye), eye),
    }
    np.testing.assert_allclose(dense(mt.virtual_network(m)), expected(groups, e), rtol=1e-10)
    with pytest.raises(ValueError, match="no MLP"):
        mt.block_networks(m)


def test_blocks_view_is_each_mlp_as_it_is():
    m = layer(norm_first=True)
    ((name, net),) = mt.block_networks(m).items()
    assert name == "linear1" and net.sizes == (D, D_MLP, D)
    w1, w2 = arr(m.linear1.weight).T, arr(m.linear2.weight).T
    groups = list(zip(net.names, net.sizes))
    e = {(net.names[0], "linear1"): np.abs(w1), ("linear1", net.names[2]): np.abs(w2)}
    np.testing.assert_allclose(dense(net), expected(groups, e))


def test_blocks_view_of_every_torch_nn_stack_by_hand():
    torch.manual_seed(12)
    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, HEADS, D_MLP), 2, enable_nested_tensor=False
    )
    with torch.no_grad():
        enc.layers[1].linear1.weight.normal_()
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, HEADS, D_MLP), 2)
    full = nn.Transformer(D, HEADS, 1, 1, D_MLP, batch_first=True)
    cases = [
        (enc, {f"layers.{i}.linear1": enc.layers[i] for i in range(2)}),
        (dec, {f"layers.{i}.linear1": dec.layers[i] for i in range(2)}),
        (
            full,
            {
                "encoder.layers.0.linear1": full.encoder.layers[0],
                "decoder.layers.0.linear1": full.decoder.layers[0],
            },
        ),
    ]
    for model, layers in cases:
        nets = mt.block_networks(model)
        assert list(nets) == list(layers)
        for name, lay in layers.items():
            # nn.Linear stores (out, in): the MLP reads x @ W1.T and writes h @ W2.T
            np.testing.assert_array_equal(
                nets[name].blocks[0].dense, np.abs(arr(lay.linear1.weight)).T
            )
            np.testing.assert_array_equal(
                nets[name].blocks[1].dense, np.abs(arr(lay.linear2.weight)).T
            )


def test_oracle_reads_the_heads_as_the_module_computes_them():
    """With one position, a head attends to itself: the module's output minus its biases
    is x @ OV summed over heads; silencing the other heads gives each head's OV."""
    torch.manual_seed(3)
    m = nn.MultiheadAttention(D, HEADS, batch_first=True)
    x = torch.randn(4, 1, D, dtype=torch.float64)
    m = m.double()
    for keep in range(HEADS):
        with torch.no_grad():
            part = m.out_proj.weight.clone()
            dh = D // HEADS
            mask = torch.zeros(D)
            mask[keep * dh : (keep + 1) * dh] = 1
            m.out_proj.weight.mul_(mask)
            out = m(x, x, x)[0] - m(0 * x, 0 * x, 0 * x)[0]
            np.testing.assert_allclose(arr(out[:, 0]), arr(x[:, 0]) @ mha_ov(m)[keep], atol=1e-12)
            m.out_proj.weight.copy_(part)


# -- GPT-2 ---------------------------------------------------------------------------


def gpt2(seed=0, **config):
    pytest.importorskip("transformers")
    from modcore.nn.gpt2 import gpt2_model

    shape = dict(n_layer=2, n_embd=D, n_head=HEADS, n_inner=D_MLP, vocab_size=VOCAB)
    shape.update(config)
    model = gpt2_model(n_positions=N_POS, seed=seed, **shape)
    return randomize_norms(model.eval(), seed)


def gpt2_oracle(m, head=True):
    """The groups [(name, size)] and blocks {(a, b): E} of GPT-2 ``m``'s virtual graph, by hand."""
    body = m.transformer
    root = "transformer." if head else ""  # GPT2Model alone: its output features
    eye = np.eye(body.embed_dim)
    writes = {"tokens": rows(arr(body.wte.weight)), "positions": rows(arr(body.wpe.weight))}
    reads, order = {}, ["tokens", "positions"]
    for i, block in enumerate(body.h):
        a, f = f"{root}h.{i}.attn", f"{root}h.{i}.mlp"
        n1, n2 = ln(block.ln_1), ln(block.ln_2)
        ov = [n1 @ o for o in gpt2_ov(block.attn)]
        reads[a] = writes[a] = ov
        reads[f] = cols(n2 @ arr(block.mlp.c_fc.weight))  # Conv1D: (in, out) as it is
        writes[f] = rows(arr(block.mlp.c_proj.weight))
        order += [a, f]
    last = "logits" if head else "output"
    unembed = arr(m.lm_head.weight).T if head else eye
    reads[last] = cols(ln(body.ln_f) @ unembed)
    order.append(last)
    e = {
        (src, dst): norms(writes[src], reads[dst], eye)
        for i, src in enumerate(order)
        if src in writes
        for dst in order[i + 1 :]
        if dst in reads
    }
    return [(g, len(writes.get(g, reads.get(g, [])))) for g in order], e


@pytest.mark.parametrize("head", [True, False])
def test_gpt2_virtual_graph_by_hand(head):
    m = gpt2()
    body = m.transformer
    groups, e = gpt2_oracle(m, head)
    sizes = {"tokens": VOCAB, "positions": N_POS, "logits": VOCAB, "output": D}
    assert groups == [(g, sizes.get(g, HEADS if "attn" in g else D_MLP)) for g, _ in groups]
    net = mt.virtual_network(m if head else body)
    assert list(zip(net.names, net.sizes)) == groups
    np.testing.assert_allclose(dense(net), expected(groups, e), rtol=1e-10, atol=1e-12)
    if not head:
        return
    # The blocks view: c_fc and c_proj as they are (no transpose: Conv1D is (in, out)).
    blocks = mt.block_networks(m)
    assert list(blocks) == ["transformer.h.0.mlp", "transformer.h.1.mlp"]
    for i, net in enumerate(blocks.values()):
        mlp = body.h[i].mlp
        np.testing.assert_array_equal(net.blocks[0].dense, np.abs(arr(mlp.c_fc.weight)))
        np.testing.assert_array_equal(net.blocks[1].dense, np.abs(arr(mlp.c_proj.weight)))


def test_gpt2_oracle_reads_the_heads_as_the_module_computes_them():
    m = gpt2().double()
    attn = m.transformer.h[0].attn
    x = torch.randn(3, 1, D, dtype=torch.float64)
    dh = D // HEADS
    for keep in range(HEADS):
        with torch.no_grad():
            part = attn.c_proj.weight.clone()
            mask = torch.zeros(D, 1, dtype=torch.float64)
            mask[keep * dh : (keep + 1) * dh] = 1
            attn.c_proj.weight.mul_(mask)  # (in, out): rows are the heads' dims
            out = attn(x)[0] - attn(0 * x)[0]
            np.testing.assert_allclose(
                arr(out[:, 0]), arr(x[:, 0]) @ gpt2_ov(attn)[keep], atol=1e-12
            )
            attn.c_proj.weight.copy_(part)


def nn_twin(m):
    """The same network built of torch.nn: a pre-LN encoder stack with GPT-2's weights."""
    body = m.transformer
    one = nn.TransformerEncoderLayer(
        D,
        HEADS,
        D_MLP,
        dropout=0.0,
        activation=nn.GELU(approximate="tanh"),
        norm_first=True,
        batch_first=True,
    )
    twin = nn.TransformerEncoder(one, len(body.h), norm=nn.LayerNorm(D), enable_nested_tensor=False)
    with torch.no_grad():
        for lay, block in zip(twin.layers, body.h):
            lay.self_attn.in_proj_weight.copy_(block.attn.c_attn.weight.T)
            lay.self_attn.in_proj_bias.copy_(block.attn.c_attn.bias)
            lay.self_attn.out_proj.weight.copy_(block.attn.c_proj.weight.T)
            lay.self_attn.out_proj.bias.copy_(block.attn.c_proj.bias)
            lay.linear1.weight.copy_(block.mlp.c_fc.weight.T)
            lay.linear1.bias.copy_(block.mlp.c_fc.bias)
            lay.linear2.weight.copy_(block.mlp.c_proj.weight.T)
            lay.linear2.bias.copy_(block.mlp.c_proj.bias)
            for mine, theirs in ((lay.norm1, block.ln_1), (lay.norm2, block.ln_2)):
                mine.load_state_dict(theirs.state_dict())
        twin.norm.load_state_dict(body.ln_f.state_dict())
    return twin.eval()


def test_gpt2_reads_as_its_torch_nn_twin():
    m = gpt2(seed=4)
    twin = nn_twin(m)
    ids = torch.tensor([[1, 4, 2, 6, 0]])
    with torch.no_grad():  # the twin computes what GPT-2 computes ...
        x = m.transformer.wte(ids) + m.transformer.wpe(torch.arange(N_POS))
        mask = nn.Transformer.generate_square_subsequent_mask(N_POS)
        theirs = m.transformer(ids).last_hidden_state
        ours = twin(x, mask=mask, is_causal=True)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # ... and is read alike: the same MLPs, and the same edges among heads and neurons.
    for a, b in zip(mt.block_networks(m).values(), mt.block_networks(twin).values()):
        np.testing.assert_allclose(dense(a), dense(b), rtol=1e-6)
    g, t = mt.virtual_network(m), mt.virtual_network(twin)

    def inner(net, first):  # heads and neurons, between the input and output groups
        lo, hi = net.offsets[first], net.offsets[-2]
        return dense(net)[lo:hi, lo:hi]

    assert g.sizes[2:-1] == t.sizes[1:-1]
    np.testing.assert_allclose(inner(g, 2), inner(t, 1), rtol=1e-6)


# -- TransformerLens -----------------------------------------------------------------


def lens(seed=0, **config):
    import warnings

    tl = pytest.importorskip("transformer_lens")
    try:
        tl.HookedTransformer  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip("TransformerLens 4.0 removed HookedTransformer")

    torch.manual_seed(seed)
    options = dict(
        n_layers=2,
        d_model=D,
        n_ctx=N_POS,
        d_head=D // HEADS,
        n_heads=HEADS,
        d_mlp=D_MLP,
        d_vocab=VOCAB,
        act_fn="gelu",
        normalization_type="LN",
        seed=seed,
    )
    options.update(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = tl.HookedTransformer(tl.HookedTransformerConfig(**options))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # gains that are not all 1, so that folding them matters
        for name, p in model.named_parameters():
            if name.endswith(".w"):
                p.copy_(torch.rand(p.shape, generator=g) * 2 - 0.5)
    return model


def lens_norm(norm, rms):
    d = norm.w.shape[0]
    centre = np.eye(d) if rms else np.eye(d) - np.ones((d, d)) / d
    return centre @ np.diag(arr(norm.w))


@pytest.mark.parametrize("kind", ["LN", "RMS"])
def test_hooked_transformer_virtual_graph_by_hand(kind):
    m = lens(normalization_type=kind)
    rms = kind == "RMS"
    eye = np.eye(D)
    writes = {"tokens": rows(arr(m.embed.W_E)), "positions": rows(arr(m.pos_embed.W_pos))}
    reads, order = {}, ["tokens", "positions"]
    for i, block in enumerate(m.blocks):
        a, f = f"blocks.{i}.attn", f"blocks.{i}.mlp"
        n1, n2 = lens_norm(block.ln1, rms), lens_norm(block.ln2, rms)
        wv, wo = arr(block.attn.W_V), arr(block.attn.W_O)  # (h, d, dh), (h, dh, d)
        reads[a] = writes[a] = [n1 @ wv[h] @ wo[h] for h in range(HEADS)]
        reads[f] = cols(n2 @ arr(block.mlp.W_in))
        writes[f] = rows(arr(block.mlp.W_out))
        order += [a, f]
    reads["logits"] = cols(lens_norm(m.ln_final, rms) @ arr(m.unembed.W_U))
    order.append("logits")
    e = {
        (src, dst): norms(writes[src], reads[dst], eye)
        for i, src in enumerate(order)
        if src in writes
        for dst in order[i + 1 :]
        if dst in reads
    }
    sizes = {"tokens": VOCAB, "positions": N_POS, "logits": VOCAB}
    groups = [(g, sizes.get(g, HEADS if "attn" in g else D_MLP)) for g in order]
    net = mt.virtual_network(m)
    assert list(zip(net.names, net.sizes)) == groups
    np.testing.assert_allclose(dense(net), expected(groups, e), rtol=1e-10, atol=1e-12)


def test_hooked_transformer_blocks_view_by_hand():
    m = lens(seed=3)
    nets = mt.block_networks(m)
    assert list(nets) == ["blocks.0.mlp", "blocks.1.mlp"]
    for block, net in zip(m.blocks, nets.values()):  # W_in (d, d_mlp), W_out as stored
        np.testing.assert_array_equal(net.blocks[0].dense, np.abs(arr(block.mlp.W_in)))
        np.testing.assert_array_equal(net.blocks[1].dense, np.abs(arr(block.mlp.W_out)))


def test_hooked_transformer_with_gpt2_weights_reads_as_gpt2():
    tl = pytest.importorskip("transformer_lens")
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

    g = gpt2(seed=9)
    m = lens(act_fn="gelu_new")
    m.load_state_dict(convert_gpt2_weights(g, m.cfg), strict=False)
    ids = torch.tensor([[1, 4, 2, 6, 0]])
    with torch.no_grad():  # TransformerLens's conversion is faithful here ...
        torch.testing.assert_close(m(ids), g(ids).logits, atol=1e-4, rtol=1e-4)
    a, b = mt.virtual_network(m), mt.virtual_network(g)  # ... and both are read alike
    assert a.sizes == b.sizes and isinstance(tl.HookedTransformer, type)
    np.testing.assert_allclose(dense(a), dense(b), rtol=1e-6, atol=1e-9)
    for x, y in zip(mt.block_networks(m).values(), mt.block_networks(g).values()):
        np.testing.assert_allclose(dense(x), dense(y), rtol=1e-6)


def test_hooked_transformer_variants_read_or_refused_by_name():
    short = mt.virtual_network(lens(positional_embedding_type="shortformer"))
    assert "positions" not in short.names  # its positions reach queries and keys only
    attn_only = lens(attn_only=True)
    assert [n for n in mt.virtual_network(attn_only).names if "mlp" in n] == []
    with pytest.raises(ValueError, match="no MLP"):
        mt.block_networks(attn_only)
    for config, message in [
        (dict(parallel_attn_mlp=True), "parallel_attn_mlp"),
        (dict(act_fn="solu_ln"), "solu_ln"),
        (dict(gated_mlp=True), "gated_mlp"),
    ]:
        with pytest.raises(ValueError, match=message):
            modcore.spectral_cluster(lens(**config), view="virtual")


# -- sparsification -----------------------------------------------------------------


def block_coo(block):
    r, c, v = block.coo()
    order = np.lexsort((c, r))
    return r[order], c[order], v[order]


def test_top_k_keeps_each_source_units_largest_edges_against_the_oracle():
    # top_k's edges are computed in float32: equal to the oracle's to its rounding, and
    # the same set wherever no other edge of the row lies within that rounding of the k-th.
    m = gpt2(seed=5, vocab_size=40)
    _, oracle = gpt2_oracle(m)
    net = mt.virtual_network(m, top_k=3)
    names = net.names
    assert len(net.blocks) == len(oracle)
    clear = 0
    for block in net.blocks:
        full = oracle[names[block.src], names[block.dst]]
        r, c, v = block_coo(block)
        got = np.zeros(full.shape)
        got[r, c] = v
        np.testing.assert_allclose(v, full[r, c], rtol=1e-5)
        for row, row_got in zip(full, got):
            kth = np.sort(row)[::-1][min(3, row.size) - 1]
            near = np.abs(row - kth) <= 1e-5 * kth
            if np.count_nonzero(near) == np.count_nonzero(row == kth):
                np.testing.assert_array_equal(row_got > 0, (row >= kth) & (row > 0))
                clear += 1
    assert clear > 0.95 * sum(b.shape[0] for b in net.blocks)
    tie = nn.MultiheadAttention(4, 2)
    with torch.no_grad():
        tie.in_proj_weight.fill_(1.0)
        tie.out_proj.weight.fill_(1.0)
    # every input feature reaches both heads equally: top_k=1 keeps both
    assert mt.virtual_network(tie, top_k=1).blocks[0].nnz == 8
    with pytest.raises(ValueError, match="top_k"):
        mt.virtual_network(tie, top_k=0)


def test_the_graph_does_not_depend_on_the_chunk_size(monkeypatch):
    # Products of fixed tiles, chunks of whole tiles: the same bits at any chunk size.
    from modcore.network.transformer import views

    m = gpt2(seed=10, vocab_size=40)
    monkeypatch.setattr(views, "_TILE", (2, 3))
    graphs = {}
    for chunk in (1, 7, 40, 10**6):  # from one row of tiles to the whole block
        monkeypatch.setattr(views, "_CHUNK_ENTRIES", chunk)
        graphs[chunk] = {k: mt.virtual_network(m, top_k=k) for k in (None, 1, 3)}
    for k in (None, 1, 3):
        first = graphs[1][k]
        for chunk in (7, 40, 10**6):
            for a, b in zip(first.blocks, graphs[chunk][k].blocks):
                for x, y in zip(block_coo(a), block_coo(b)):
                    np.testing.assert_array_equal(x, y)


def test_a_dense_graph_too_large_asks_for_top_k(monkeypatch):
    from modcore.network.transformer import views

    m = gpt2(seed=11)
    monkeypatch.setattr(views, "MAX_DENSE_EDGES", 100)
    with pytest.raises(ValueError, match=r"virtual_network\(model, top_k=...\)"):
        modcore.spectral_cluster(m, view="virtual")
    assert mt.virtual_network(m, top_k=1).n_units == sum(mt.virtual_network(m, top_k=2).sizes)


# -- through the public API ----------------------------------------------------------


def test_public_functions_take_both_views():
    m = layer(norm_first=True, seed=6)
    opts = dict(n_clusters=3, seed=0)
    direct = modcore.spectral_cluster(mt.virtual_network(m), **opts)
    assert modcore.spectral_cluster(m, view="virtual", **opts).ncut == direct.ncut
    per_block = modcore.ncut_significance(m, view="blocks", n_shuffles=9, progress=False, **opts)
    ((name, sig),) = per_block.items()
    alone = modcore.ncut_significance(
        mt.block_networks(m)[name], n_shuffles=9, progress=False, **opts
    )
    assert name == "linear1" and sig.ncut == alone.ncut
    np.testing.assert_array_equal(sig.shuffled_ncuts, alone.shuffled_ncuts)
    curves = modcore.ncut_curve(m, view="blocks", ks=[2, 3], n_shuffles=5, seed=0, progress=False)
    assert list(curves) == ["linear1"] and curves["linear1"].ncut.shape == (2,)
    clusterings = modcore.spectral_cluster(m, view="blocks", **opts)
    assert clusterings["linear1"].ncut == alone.ncut


def test_a_transformer_needs_a_view_and_other_inputs_refuse_one():
    m = layer(norm_first=False)
    with pytest.raises(ValueError, match=r"view='blocks'.*view='virtual'"):
        modcore.spectral_cluster(m)
    with pytest.raises(ValueError, match="view must be"):
        modcore.spectral_cluster(m, view="mlp")
    with pytest.raises(ValueError, match="applies to transformer"):
        modcore.spectral_cluster([np.ones((3, 3))], view="virtual")
    with pytest.raises(ValueError, match="has no attention"):
        modcore.spectral_cluster(nn.Sequential(nn.Linear(3, 4)), view="virtual")
    with pytest.raises(ValueError, match="one network per MLP"):
        as_network(m, view="blocks")
    with pytest.raises(ValueError, match="list is not a transformer"):
        modcore.spectral_cluster([np.ones((3, 3))], view="blocks")


# -- refusals ------------------------------------------------------------------------


class Wrapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(D, HEADS, D_MLP), 1, enable_nested_tensor=False
        )

    def forward(self, x):
        return self.encoder(self.embed(x))


class MyAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        return torch.softmax(q @ k.transpose(-1, -2), -1) @ v


class OwnForward(nn.TransformerEncoderLayer):
    def forward(self, src, *args, **kwargs):
        return super().forward(src * 2, *args, **kwargs)


def test_attention_modcore_does_not_model_is_refused_by_name():
    cases = [
        (Wrapped(), "'encoder'.*pass that module itself"),
        (nn.Sequential(nn.Linear(D, D), MyAttention()), "MyAttention"),
        (OwnForward(D, HEADS, D_MLP), "OwnForward.*forward of its own"),
        (
            nn.TransformerEncoderLayer(D, HEADS, D_MLP, activation=lambda x: x.softmax(-1)),
            "activation",
        ),
    ]
    for model, message in cases:
        with pytest.raises(ValueError, match=message):
            modcore.spectral_cluster(model, view="virtual")
        with pytest.raises(ValueError, match=message):
            modcore.spectral_cluster(model)  # refused whatever the view


def test_cross_attention_is_refused_by_the_virtual_view_only():
    torch.manual_seed(7)
    dec = nn.TransformerDecoderLayer(D, HEADS, D_MLP)
    with pytest.raises(ValueError, match=r"cross-attention.*multihead_attn"):
        mt.virtual_network(dec)
    assert list(mt.block_networks(dec)) == ["linear1"]
    full = nn.Transformer(D, HEADS, 1, 1, D_MLP, batch_first=True)
    assert list(mt.block_networks(full)) == ["encoder.layers.0.linear1", "decoder.layers.0.linear1"]
    with pytest.raises(ValueError, match=r"decoder.layers.0.multihead_attn"):
        modcore.spectral_cluster(full, view="virtual")
    m = gpt2(add_cross_attention=True)
    with pytest.raises(ValueError, match=r"transformer.h.0.crossattention"):
        mt.virtual_network(m)
    assert len(mt.block_networks(m)) == 2


def test_other_hugging_face_models_are_refused_by_name():
    transformers = pytest.importorskip("transformers")
    bert = transformers.BertModel(
        transformers.BertConfig(
            hidden_size=D,
            num_hidden_layers=1,
            num_attention_heads=HEADS,
            intermediate_size=D_MLP,
            vocab_size=VOCAB,
        )
    )
    with pytest.raises(ValueError, match=r"BertModel.*does not read"):
        modcore.spectral_cluster(bert, view="virtual")


def test_import_modcore_needs_neither_torch_nor_transformers():
    import subprocess
    import sys

    code = (
        "import sys, modcore, modcore.network.transformer; "
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the command line ----------------------------------------------------------------


def test_cli_analyzes_a_saved_gpt2_in_both_views(tmp_path, capsys):
    import json

    from modcore.cli import main as cli

    m = gpt2(seed=8)
    folder = tmp_path / "gpt2"
    m.save_pretrained(folder)
    out = tmp_path / "blocks.json"
    common = ["--n-clusters", "3", "--n-shuffles", "9", "--quiet"]
    assert cli.main(["analyze", str(folder), "--view", "blocks", *common, "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert list(saved["blocks"]) == ["transformer.h.0.mlp", "transformer.h.1.mlp"]
    for name, net in mt.block_networks(m).items():
        sig = modcore.ncut_significance(net, n_clusters=3, n_shuffles=9, seed=0, progress=False)
        assert saved["blocks"][name]["ncut"] == pytest.approx(sig.ncut)
    assert "== MLP transformer.h.1.mlp (2 of 2) ==" in capsys.readouterr().out
    out = tmp_path / "virtual.json"
    argv = [
        "analyze",
        str(folder),
        "--view",
        "virtual",
        "--top-k",
        "4",
        *common,
        "--json",
        str(out),
    ]
    assert cli.main(argv) == 0
    sig = modcore.ncut_significance(
        mt.virtual_network(m, top_k=4), n_clusters=3, n_shuffles=9, seed=0, progress=False
    )
    assert json.loads(out.read_text())["ncut"] == pytest.approx(sig.ncut)
    capsys.readouterr()
    for argv, message in [
        ([str(folder)], "needs --view blocks"),
        ([str(folder), "--view", "blocks", "--top-k", "3"], "--top-k applies to --view virtual"),
        ([str(folder / "config.json"), "--view", "virtual"], "not a file"),
    ]:
        assert cli.main(["analyze", *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1

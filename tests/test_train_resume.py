"""A training stopped after any epoch and resumed from its state file ends bit for bit where
an uninterrupted one does: weights (with the pruning masks), Adam, data order, dropout."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from modcore.nn import CNN, MLP, PruneSchedule, load_dataset, paper_recipe, train


class Stop(Exception):
    """The process stopped after an epoch (Ctrl-C, the end of a session)."""


@pytest.fixture(scope="module")
def images():
    return load_dataset("line", n_train=96, n_test=32, flatten=False, seed=1)


@pytest.fixture(scope="module")
def flat():
    return load_dataset("line", n_train=96, n_test=32, seed=1)


def tiny_cnn(data):
    # Dropout in both places, so that the RNG state is part of what must be resumed.
    return CNN(
        data.input_shape,
        channels=(3, 4),
        pool_after=(True, True),
        dense=(6,),
        conv_dropout=0.25,
        dense_dropout=0.5,
        seed=3,
    )


RECIPE = dict(epochs=2, prune_epochs=3, batch_size=16, seed=7)


def stop_after(k):
    def progress(done, total):
        if done == k:
            raise Stop

    return progress


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def without_times(history):
    return {k: v for k, v in history.to_dict().items() if k != "seconds"}


@pytest.fixture(scope="module")
def uninterrupted(images):
    model = tiny_cnn(images)
    history = paper_recipe(model, images, progress=False, **RECIPE)
    return model, history


@pytest.mark.parametrize("k", [1, 2, 3, 4])  # in the plain phase, at its end, while pruning
def test_paper_recipe_resumed_after_any_epoch_is_bitwise_the_same(
    tmp_path, images, uninterrupted, k
):
    state = tmp_path / "state.pt"
    trained = []
    with pytest.raises(Stop):
        paper_recipe(
            tiny_cnn(images),
            images,
            progress=stop_after(k),
            state=state,
            on_trained=lambda m, h: trained.append(len(h.loss)),
            **RECIPE,
        )
    saved = torch.load(state, weights_only=True)  # plain tensors and values only
    assert saved["phase"] * RECIPE["epochs"] + saved["epoch"] == k
    # While pruning the masks are part of the state (torch's reparametrisation).
    assert any(key.endswith("weight_mask") for key in saved["model"]) == (k > RECIPE["epochs"])

    model = tiny_cnn(images)
    history = paper_recipe(
        model,
        images,
        progress=False,
        state=state,
        on_trained=lambda m, h: trained.append(len(h.loss)),
        **RECIPE,
    )
    reference, reference_history = uninterrupted
    assert same_weights(model, reference)
    assert without_times(history) == without_times(reference_history)
    # The unpruned network is reported once, by whichever process ended the plain phase.
    assert trained == [RECIPE["epochs"]]


def test_train_with_a_schedule_resumes_bitwise_and_stops_at_max_epochs(tmp_path, flat):
    # train() alone, an MLP with dropout, pruning on a schedule; "stopped" by running
    # fewer epochs is not the same training (another recipe): refused, not mixed.
    def run(**kw):
        model = MLP([flat.n_features, 12, 10], dropout=0.5, seed=0)
        schedule = PruneSchedule(end_step=12, frequency=2)
        history = train(
            model, flat, epochs=3, batch_size=32, seed=1, prune=schedule, progress=False, **kw
        )
        return model, history

    reference, history = run()
    state = tmp_path / "s.pt"

    def stop_after_two(history):
        if len(history.loss) == 2:
            raise Stop

    with pytest.raises(Stop):
        run(state=state, on_epoch=stop_after_two)
    resumed, again = run(state=state)
    assert same_weights(resumed, reference)
    assert without_times(again) == without_times(history)
    # The state is kept after the last epoch; a rerun has nothing left to do.
    done, third = run(state=state)
    assert same_weights(done, reference) and without_times(third) == without_times(history)

    model = MLP([flat.n_features, 12, 10], dropout=0.5, seed=0)
    with pytest.raises(ValueError, match="state of another training"):
        train(model, flat, epochs=4, batch_size=32, seed=1, progress=False, state=state)


def test_a_state_file_that_is_not_one_is_refused_by_name(tmp_path, flat):
    bad = tmp_path / "s.pt"
    bad.write_bytes(b"not a torch file")
    model = MLP([flat.n_features, 4, 10], seed=0)
    with pytest.raises(ValueError, match=r"s\.pt"):
        train(model, flat, epochs=1, progress=False, state=bad)
    torch.save({"format": "something else"}, bad)
    with pytest.raises(ValueError, match="not a modcore training state"):
        train(model, flat, epochs=1, progress=False, state=bad)


def test_a_state_holding_code_does_not_run_it(tmp_path, flat):
    # weights_only loading: a pickled callable in the file is refused, never called.
    class Boom:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    path = tmp_path / "s.pt"
    torch.save({"format": "modcore-training-state", "version": 1, "x": Boom()}, path)
    model = MLP([flat.n_features, 4, 10], seed=0)
    with pytest.raises(ValueError, match=r"s\.pt"):
        train(model, flat, epochs=1, progress=False, state=path)


def test_a_state_of_another_model_is_refused_by_name(tmp_path, flat):
    state = tmp_path / "s.pt"
    with pytest.raises(Stop):
        train(
            MLP([flat.n_features, 12, 10], seed=0),
            flat,
            epochs=2,
            seed=1,
            progress=stop_after(1),
            state=state,
        )
    wider = MLP([flat.n_features, 13, 10], seed=0)
    with pytest.raises(ValueError, match=r"s\.pt: the training state does not fit this model"):
        train(wider, flat, epochs=2, seed=1, progress=False, state=state)

"""seed=None draws a seed, records it, and that seed repeats the run (modcore.nn)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modcore.nn import MLP, lesion_study, load_dataset, paper_recipe

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_lesion_study_records_the_seed_it_drew():
    model = MLP([8, 12, 12, 3], seed=0)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 8, generator=g)
    y = torch.randint(0, 3, (300,), generator=g)
    labels = [np.zeros(8, int), np.arange(12) % 3, np.arange(12) % 2, np.zeros(3, int)]
    kwargs = dict(clustering=labels, random_lesions=8, min_drop=0.0, double=False, progress=False)

    def study(seed):
        result = lesion_study(model, (x, y), seed=seed, **kwargs).to_dict()
        del result["seconds"]  # wall times
        return result

    first = study(None)
    assert isinstance(first["seed"], int)
    assert study(first["seed"]) == first
    assert study(first["seed"] + 1)["single"] != first["single"]


def test_paper_recipe_records_the_seed_it_drew():
    ds = load_dataset("line", n_train=128, n_test=32, seed=0)

    def run(seed):
        model = MLP([784, 16, 10], dropout=0.5, seed=0)
        return model, paper_recipe(model, ds, epochs=1, prune_epochs=1, seed=seed, progress=False)

    first, history = run(None)
    again, repeat = run(history.seed)
    assert isinstance(history.seed, int) and repeat.seed == history.seed
    assert repeat.loss == history.loss and len(history.loss) == 2
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters()))

"""Results of a lesion study: sub-modules, single and pair lesions, the whole study."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...common import display
from . import text

if TYPE_CHECKING:
    from .network_level import NetworkTests

__all__ = ["SubModule", "SubModuleLesion", "PairLesion", "LesionStudy"]


def _name(layer: int, module: int) -> str:
    """A sub-module's short name in tables and figures: module ``module`` in layer ``layer``."""
    return f"L{layer}M{module}"


@dataclass(frozen=True, repr=False)
class SubModule:
    """Module ``module`` restricted to group (layer) ``layer``: its units there
    (neurons, or channels of a convolution)."""

    layer: int
    module: int
    neurons: np.ndarray

    @property
    def size(self) -> int:
        return len(self.neurons)

    @property
    def name(self) -> str:
        return _name(self.layer, self.module)

    def __repr__(self) -> str:
        return f"SubModule(layer={self.layer}, module={self.module}, size={self.size})"


@dataclass(frozen=True, repr=False)
class SubModuleLesion:
    """Single lesion of one sub-module against random lesions of its size.

    Attributes
    ----------
    layer, module, size : int
        ``layer`` is the group's index (an MLP's layer).
    group : str
        The group's name (``"0"``, ``"convs.1"``: the layer module's qualified name).
    neurons : int array
        The lesioned units (indices in the group: neurons or channels).
    accuracy, drop : float
        Test accuracy with the sub-module lesioned, and ``base - accuracy``.
    class_accuracy : float array of shape (n_classes,)
        Accuracy on each class's test examples (NaN for a class without any).
    random_drops : float array of shape (n_random,)
        Drops of the random lesions, in the order drawn.
    random_class_accuracy : float array of shape (n_random, n_classes)
        Their per-class accuracies (:meth:`to_dict` keeps the mean over lesions).
    random_neurons : int array of shape (n_random, size)
        The random lesions (not in :meth:`to_dict`).
    random_mean, random_std : float
        Mean and sample std (ddof=1) of ``random_drops``.
    z_score : float
        ``(drop - random_mean) / random_std`` (±inf or 0 when the std is 0).
    p_value : float
        ``(1 + #{random lesions at least as harmful}) / (n_random + 1)``; with
        rule "bonferroni" a random lesion of equal drop counts (``>=``), with rule
        "paper" it does not (``>``).
    tested : bool
        ``drop >= min_drop`` (rule "bonferroni": in the Bonferroni family).
    important : bool
        Rule "bonferroni": tested and ``p_value < alpha / n_tested``. Rule
        "paper": ``category == "important"``.
    category : str or None
        Rule "paper": the authors' category (see
        :func:`modcore.nn.lesion.rules.paper_category`); None otherwise.
    """

    layer: int
    module: int
    size: int
    group: str
    neurons: np.ndarray
    accuracy: float
    drop: float
    class_accuracy: np.ndarray
    random_drops: np.ndarray
    random_class_accuracy: np.ndarray
    random_neurons: np.ndarray
    random_mean: float
    random_std: float
    z_score: float
    p_value: float
    tested: bool
    important: bool
    category: str | None

    @property
    def n_random(self) -> int:
        return len(self.random_drops)

    @property
    def name(self) -> str:
        return _name(self.layer, self.module)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del d["random_neurons"], d["random_class_accuracy"]
        d["neurons"] = self.neurons.tolist()
        d["class_accuracy"] = self.class_accuracy.tolist()
        d["random_drops"] = self.random_drops.tolist()
        d["random_class_accuracy_mean"] = self.random_class_accuracy.mean(axis=0).tolist()
        d["n_random"] = self.n_random
        return d

    def __repr__(self) -> str:
        return (
            f"SubModuleLesion({self.name}, size={self.size}, drop={self.drop:.4f}, "
            f"random={self.random_mean:.4f} ± {self.random_std:.4f}, z={self.z_score:.2f}, "
            f"p={self.p_value:.4g}, n_random={self.n_random}, important={self.important}"
            + (f", category={self.category!r})" if self.category else ")")
        )


@dataclass(frozen=True, repr=False)
class PairLesion:
    """Joint lesion of two sub-modules in different layers, and the conditional tests.

    Attributes
    ----------
    a, b : int
        Indices into :attr:`LesionStudy.single` (``a`` in the lower layer).
    joint_drop : float
        Accuracy drop with both lesioned.
    class_accuracy : float array of shape (n_classes,)
        Per-class accuracy with both lesioned.
    additive : float
        ``drop_a + drop_b``, what independent damage would predict.
    interaction : float
        ``joint_drop - additive``.
    random_joint_drops, random_interactions : float arrays of shape (n_random,)
        The same for random pairs (random lesion k of a with random lesion k of b).
    random_class_accuracy : float array of shape (n_random, n_classes)
        Per-class accuracies of those random pairs (not in :meth:`to_dict`).
    joint_z, joint_p : float
        ``joint_drop`` against the random joint drops (one-sided, larger is
        rarer: ``(1 + #{random >= joint}) / (n + 1)``).
    interaction_z, interaction_p : float
        ``interaction`` against the random interactions; the p-value is
        two-sided: ``(1 + #{|random - mean| >= |interaction - mean|}) / (n + 1)``.
    a_given_b, b_given_a : float
        The conditional test's extra damage (the authors' ``s_a|b``):
        ``joint_drop - drop_b``, what lesioning ``a`` adds once ``b`` is lesioned,
        and ``joint_drop - drop_a``.
    a_given_b_random, b_given_a_random : float arrays of shape (n_random,)
        The same with ``a`` replaced by random lesion k of ``a`` (its single
        lesion's first ``n_random``), ``b`` kept; and the other way round.
    a_given_b_p, b_given_a_p : float
        ``(1 + #{random extra damage > extra damage}) / (n_random + 1)`` (a tie
        counts for the sub-module, as in the paper).
    a_given_b_important, b_given_a_important : bool
        p below ``1 / n_random`` (no random lesion did more extra damage) and
        extra damage >= ``min_drop``.
    dependency_type : str or None
        When ``a`` and ``b`` are both important alone, the authors' type from
        the two conditional outcomes (``a|b``, ``b|a``): ``"I"`` (neither: all of
        a's output goes to b and b's input comes from a), ``"II"`` (a|b only: a
        feeds b and something else), ``"III"`` (b|a only: b reads a and something
        else), ``"IV"`` (both: no sign of dependency). None otherwise.
    """

    a: int
    b: int
    name_a: str
    name_b: str
    joint_drop: float
    class_accuracy: np.ndarray
    additive: float
    interaction: float
    random_joint_drops: np.ndarray
    random_interactions: np.ndarray
    random_class_accuracy: np.ndarray
    joint_z: float
    joint_p: float
    interaction_z: float
    interaction_p: float
    a_given_b: float
    b_given_a: float
    a_given_b_random: np.ndarray
    b_given_a_random: np.ndarray
    a_given_b_p: float
    b_given_a_p: float
    a_given_b_important: bool
    b_given_a_important: bool
    dependency_type: str | None

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del d["random_class_accuracy"]
        for key in (
            "class_accuracy",
            "random_joint_drops",
            "random_interactions",
            "a_given_b_random",
            "b_given_a_random",
        ):
            d[key] = d[key].tolist()
        return d

    def __repr__(self) -> str:
        return (
            f"PairLesion({self.name_a}+{self.name_b}, joint={self.joint_drop:.4f}, "
            f"additive={self.additive:.4f}, interaction={self.interaction:+.4f}, "
            f"interaction z={self.interaction_z:.2f}, p={self.interaction_p:.4g}, "
            f"a|b={self.a_given_b:.4f} (p={self.a_given_b_p:.3g}), "
            f"b|a={self.b_given_a:.4f} (p={self.b_given_a_p:.3g}), "
            f"type={self.dependency_type})"
        )


@dataclass(frozen=True, repr=False)
class LesionStudy:
    """Single (and double) lesion results of one network.

    Attributes
    ----------
    base_accuracy : float
        Test accuracy of the intact network.
    base_class_accuracy : float array of shape (n_classes,)
        Its accuracy on each class (NaN for a class without test examples).
    class_sizes : int array of shape (n_classes,)
        Test examples per class.
    n_test : int
        Test examples; drops are multiples of ``1 / n_test``.
    layer_sizes : list of int
        Units per group (an MLP's layer widths; a CNN's channels and units).
    group_names : list of str
        The groups' names (``"input"``, then the layer modules' qualified names).
    unit_kinds : list of str
        What each group's units are: ``"inputs"``, ``"neurons"`` or ``"channels"``.
    labels : list of int arrays
        The clustering used (``labels[l][i]``, -1 for units without edges or in
        groups the clustering left out).
    ncut : float or None
        Its n-cut, when it came from :func:`modcore.spectral_cluster`.
    n_clusters, seed, random_lesions : int
    rule : str
        ``"bonferroni"`` or ``"paper"``: how importance was decided.
    alpha, min_drop : float
    adaptive : bool
    max_random_lesions : int
        Random lesions the tested sub-modules were topped up to (``random_lesions``
        when no top-up was needed, ``adaptive`` is off or the rule is "paper").
    n_tested : int
        Sub-modules with ``drop >= min_drop`` (rule "bonferroni": the family).
    threshold : float
        The p-value an important sub-module is below: ``alpha / n_tested``
        (``alpha`` when nothing was tested), or ``1 / random_lesions`` for rule "paper".
    single : list of SubModuleLesion
        One per non-empty sub-module, by layer then module.
    network_tests : NetworkTests
        The network-level tests over all sub-modules (see
        :mod:`modcore.nn.lesion.network_level`).
    pairs : list of PairLesion
        Empty unless the double-lesion study ran.
    pair_set : str
        Which pairs were lesioned: ``"important"`` (pairs of important
        sub-modules in different layers) or ``"all"`` (every pair in different layers).
    dependency : float array of shape (n, n)
        ``interaction`` of each pair (symmetric); NaN on the diagonal and for
        pairs in the same layer.
    conditional : float array of shape (n, n)
        Row i, column j: the extra damage of ``i`` given ``j`` (``i|j``: joint
        drop minus ``j``'s drop); the diagonal holds the single drops; NaN for
        pairs in the same layer.
    conditional_important : bool array of shape (n, n)
        Whether ``i|j`` passed the conditional test.
    dependency_index : list of int
        Row / column ``i`` of ``dependency`` and ``conditional`` is
        ``single[dependency_index[i]]``.
    double : bool
        Whether the double-lesion study ran.
    seconds : dict
        Wall time of each stage: ``clustering`` (when run here), ``single`` (each
        sub-module and its R random lesions), ``top_up`` (the extra random
        lesions of candidates), ``double``, ``total``.
    n_masks : dict
        Lesions evaluated per stage (the true ones and the random ones).
    """

    base_accuracy: float
    base_class_accuracy: np.ndarray
    class_sizes: np.ndarray
    n_test: int
    layer_sizes: list
    group_names: list
    unit_kinds: list
    labels: list
    ncut: float | None
    n_clusters: int
    seed: int
    random_lesions: int
    rule: str
    alpha: float
    min_drop: float
    adaptive: bool
    max_random_lesions: int
    n_tested: int
    threshold: float
    single: list
    network_tests: NetworkTests
    pairs: list
    pair_set: str
    dependency: np.ndarray
    conditional: np.ndarray
    conditional_important: np.ndarray
    dependency_index: list
    double: bool
    seconds: dict
    n_masks: dict

    @property
    def important(self) -> list:
        """The important sub-modules' lesions."""
        return [s for s in self.single if s.important]

    @property
    def hidden_layers(self) -> list:
        """The groups holding at least one sub-module, in order."""
        return sorted({s.layer for s in self.single})

    def to_dict(self) -> dict:
        """Plain values, ready for JSON (NaN / inf become None)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["labels"] = [np.asarray(lab).tolist() for lab in self.labels]
        d["base_class_accuracy"] = self.base_class_accuracy.tolist()
        d["class_sizes"] = self.class_sizes.tolist()
        d["single"] = [s.to_dict() for s in self.single]
        d["network_tests"] = self.network_tests.to_dict()
        d["pairs"] = [p.to_dict() for p in self.pairs]
        d["dependency"] = self.dependency.tolist()
        d["conditional"] = self.conditional.tolist()
        d["conditional_important"] = self.conditional_important.tolist()
        d["important"] = [s.name for s in self.important]
        d["dependency_types"] = {
            f"{p.name_a}->{p.name_b}": p.dependency_type
            for p in self.pairs
            if p.dependency_type is not None
        }
        return _json_safe(d)

    def rule_text(self) -> str:
        """How importance was decided, in one sentence."""
        return text.rule_text(self)

    def table(self) -> str:
        """The single-lesion results (and pairs, network tests) as a text table (pp)."""
        return text.table(self)

    def to_markdown(self) -> str:
        """The important sub-modules, network tests and pairs as Markdown, for reports."""
        return text.markdown(self)

    def _repr_html_(self) -> str | None:
        return display.html(self)

    def __repr__(self) -> str:
        by_layer: dict[int, list[int]] = {}
        for s in self.important:
            by_layer.setdefault(s.layer, []).append(s.module)
        return (
            f"LesionStudy(base_accuracy={self.base_accuracy:.4f}, sub-modules={len(self.single)}, "
            f"rule={self.rule!r}, tested={self.n_tested}, important by layer={by_layer}, "
            f"pairs={len(self.pairs)}, seed={self.seed})"
        )


def _json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return _json_safe(value.item())
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value

"""Results of a lesion study: sub-modules, single and pair lesions, the whole study."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SubModule", "SubModuleLesion", "PairLesion", "LesionStudy"]


@dataclass(frozen=True, repr=False)
class SubModule:
    """Module ``module`` restricted to hidden layer ``layer``: its neurons there."""

    layer: int
    module: int
    neurons: np.ndarray

    @property
    def size(self) -> int:
        return len(self.neurons)

    @property
    def name(self) -> str:
        return f"L{self.layer}M{self.module}"

    def __repr__(self) -> str:
        return f"SubModule(layer={self.layer}, module={self.module}, size={self.size})"


@dataclass(frozen=True, repr=False)
class SubModuleLesion:
    """Single lesion of one sub-module against random lesions of its size.

    Attributes
    ----------
    layer, module, size : int
    neurons : int array
        The lesioned neurons (indices in the layer).
    accuracy, drop : float
        Test accuracy with the sub-module lesioned, and ``base - accuracy``.
    random_drops : float array of shape (n_random,)
        Drops of the random lesions, in the order drawn.
    random_neurons : int array of shape (n_random, size)
        The random lesions (not in :meth:`to_dict`).
    random_mean, random_std : float
        Mean and sample std (ddof=1) of ``random_drops``.
    z_score : float
        ``(drop - random_mean) / random_std`` (±inf or 0 when the std is 0).
    p_value : float
        ``(1 + #{random_drops >= drop}) / (n_random + 1)``.
    tested : bool
        ``drop >= min_drop``: in the Bonferroni family.
    important : bool
        Tested and ``p_value < alpha / n_tested``.
    """

    layer: int
    module: int
    size: int
    neurons: np.ndarray
    accuracy: float
    drop: float
    random_drops: np.ndarray
    random_neurons: np.ndarray
    random_mean: float
    random_std: float
    z_score: float
    p_value: float
    tested: bool
    important: bool

    @property
    def n_random(self) -> int:
        return len(self.random_drops)

    @property
    def name(self) -> str:
        return f"L{self.layer}M{self.module}"

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del d["random_neurons"]
        d["neurons"] = self.neurons.tolist()
        d["random_drops"] = self.random_drops.tolist()
        d["n_random"] = self.n_random
        return d

    def __repr__(self) -> str:
        return (
            f"SubModuleLesion({self.name}, size={self.size}, drop={self.drop:.4f}, "
            f"random={self.random_mean:.4f} ± {self.random_std:.4f}, z={self.z_score:.2f}, "
            f"p={self.p_value:.4g}, n_random={self.n_random}, important={self.important})"
        )


@dataclass(frozen=True, repr=False)
class PairLesion:
    """Joint lesion of two important sub-modules in different layers.

    Attributes
    ----------
    a, b : int
        Indices into :attr:`LesionStudy.single` (``a`` in the lower layer).
    joint_drop : float
        Accuracy drop with both lesioned.
    additive : float
        ``drop_a + drop_b``, what independent damage would predict.
    interaction : float
        ``joint_drop - additive``.
    random_joint_drops, random_interactions : float arrays of shape (n_random,)
        The same for random pairs (random lesion k of a with random lesion k of b).
    joint_z, joint_p : float
        ``joint_drop`` against the random joint drops (one-sided, larger is
        rarer: ``(1 + #{random >= joint}) / (n + 1)``).
    interaction_z, interaction_p : float
        ``interaction`` against the random interactions; the p-value is
        two-sided: ``(1 + #{|random - mean| >= |interaction - mean|}) / (n + 1)``.
    """

    a: int
    b: int
    name_a: str
    name_b: str
    joint_drop: float
    additive: float
    interaction: float
    random_joint_drops: np.ndarray
    random_interactions: np.ndarray
    joint_z: float
    joint_p: float
    interaction_z: float
    interaction_p: float

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["random_joint_drops"] = self.random_joint_drops.tolist()
        d["random_interactions"] = self.random_interactions.tolist()
        return d

    def __repr__(self) -> str:
        return (
            f"PairLesion({self.name_a}+{self.name_b}, joint={self.joint_drop:.4f}, "
            f"additive={self.additive:.4f}, interaction={self.interaction:+.4f}, "
            f"interaction z={self.interaction_z:.2f}, p={self.interaction_p:.4g})"
        )


@dataclass(frozen=True, repr=False)
class LesionStudy:
    """Single (and double) lesion results of one network.

    Attributes
    ----------
    base_accuracy : float
        Test accuracy of the intact network.
    n_test : int
        Test examples; drops are multiples of ``1 / n_test``.
    layer_sizes : list of int
    labels : list of int arrays
        The clustering used (``labels[l][i]``, -1 for neurons without edges).
    ncut : float or None
        Its n-cut, when it came from :func:`modcore.spectral_cluster`.
    n_clusters, seed, random_lesions : int
    alpha, min_drop : float
    adaptive : bool
    max_random_lesions : int
        Random lesions the tested sub-modules were topped up to (``random_lesions``
        when no top-up was needed or ``adaptive`` is off).
    n_tested : int
        Sub-modules with ``drop >= min_drop``: the Bonferroni family.
    threshold : float
        ``alpha / n_tested`` (``alpha`` when nothing was tested).
    single : list of SubModuleLesion
        One per non-empty sub-module, by layer then module.
    pairs : list of PairLesion
        Empty unless the double-lesion study ran.
    dependency : float array of shape (n_important, n_important)
        ``interaction`` of each pair of important sub-modules (symmetric); NaN
        on the diagonal and for pairs in the same layer.
    dependency_index : list of int
        Row / column ``i`` of ``dependency`` is ``single[dependency_index[i]]``.
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
    n_test: int
    layer_sizes: list
    labels: list
    ncut: float | None
    n_clusters: int
    seed: int
    random_lesions: int
    alpha: float
    min_drop: float
    adaptive: bool
    max_random_lesions: int
    n_tested: int
    threshold: float
    single: list
    pairs: list
    dependency: np.ndarray
    dependency_index: list
    double: bool
    seconds: dict
    n_masks: dict

    @property
    def important(self) -> list:
        """The important sub-modules' lesions."""
        return [s for s in self.single if s.important]

    def to_dict(self) -> dict:
        """Plain values, ready for JSON (NaN / inf become None)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["labels"] = [np.asarray(lab).tolist() for lab in self.labels]
        d["single"] = [s.to_dict() for s in self.single]
        d["pairs"] = [p.to_dict() for p in self.pairs]
        d["dependency"] = self.dependency.tolist()
        d["important"] = [s.name for s in self.important]
        return _json_safe(d)

    def table(self) -> str:
        """The single-lesion results as a text table (drops in percentage points)."""
        lines = [
            f"base accuracy {self.base_accuracy:.4f} on {self.n_test} test examples; "
            f"{self.n_tested} sub-modules with drop >= {100 * self.min_drop:g} pp, "
            f"important: p < {self.alpha:g}/{max(self.n_tested, 1)} = {self.threshold:.3g}",
            f"{'sub-module':>10s} {'size':>5s} {'drop pp':>8s} {'random pp':>14s} "
            f"{'z':>8s} {'p':>8s} {'R':>5s}  important",
        ]
        for s in self.single:
            rand = f"{100 * s.random_mean:.2f} ± {100 * s.random_std:.2f}"
            lines.append(
                f"{s.name:>10s} {s.size:5d} {100 * s.drop:8.2f} {rand:>14s} "
                f"{s.z_score:8.2f} {s.p_value:8.4f} {s.n_random:5d}  {'yes' if s.important else ''}"
            )
        if self.pairs:
            lines.append("double lesions (pp): joint, sum of singles, interaction, z, p")
            for p in self.pairs:
                lines.append(
                    f"{p.name_a + '+' + p.name_b:>12s} {100 * p.joint_drop:8.2f} "
                    f"{100 * p.additive:8.2f} {100 * p.interaction:+8.2f} "
                    f"{p.interaction_z:8.2f} {p.interaction_p:8.4f}"
                )
        elif self.double:
            lines.append("double lesions: fewer than two important sub-modules in different layers")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The important sub-modules (and pairs) as Markdown tables, for reports."""
        out = [
            f"Base test accuracy {100 * self.base_accuracy:.2f} % ({self.n_test} examples), "
            f"k = {self.n_clusters}, {self.random_lesions} random lesions per sub-module "
            f"(topped up to {self.max_random_lesions} for candidates). "
            f"{len(self.single)} sub-modules, {self.n_tested} with a drop >= "
            f"{100 * self.min_drop:g} pp, {len(self.important)} important "
            f"(p < {self.alpha:g} / {max(self.n_tested, 1)}).",
            "",
            "| layer | important / sub-modules "
            "| sub-module (size): drop vs random mean ± std, pp |",
            "|---|---|---|",
        ]
        for layer in range(1, len(self.layer_sizes) - 1):
            subs = [s for s in self.single if s.layer == layer]
            imp = [s for s in subs if s.important]
            text = "; ".join(
                f"M{s.module} ({s.size}): {100 * s.drop:.2f} vs {100 * s.random_mean:.2f} ± "
                f"{100 * s.random_std:.2f}"
                for s in sorted(imp, key=lambda s: -s.drop)
            )
            out.append(f"| {layer} | {len(imp)} / {len(subs)} | {text or '-'} |")
        if self.pairs:
            out += [
                "",
                "| pair | joint drop pp | sum of singles pp | interaction pp | z | p |",
                "|---|---|---|---|---|---|",
            ]
            for p in self.pairs:
                out.append(
                    f"| {p.name_a} + {p.name_b} | {100 * p.joint_drop:.2f} | "
                    f"{100 * p.additive:.2f} | {100 * p.interaction:+.2f} | "
                    f"{p.interaction_z:.2f} | {p.interaction_p:.3g} |"
                )
        return "\n".join(out)

    def __repr__(self) -> str:
        by_layer = {}
        for s in self.important:
            by_layer.setdefault(s.layer, []).append(s.module)
        return (
            f"LesionStudy(base_accuracy={self.base_accuracy:.4f}, sub-modules={len(self.single)}, "
            f"tested={self.n_tested}, important by layer={by_layer}, pairs={len(self.pairs)}, "
            f"seed={self.seed})"
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

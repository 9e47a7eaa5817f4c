"""A :class:`~modcore.nn.lesion.LesionStudy` as text: the console table and the
Markdown of reports."""

from __future__ import annotations

from ...common.markup import markdown_text
from .rules import PAPER_SMALL

__all__ = ["rule_text", "table", "markdown"]


def rule_text(study) -> str:
    """How importance was decided, in one sentence."""
    if study.rule == "paper":
        return (
            f"paper rule: important = no random lesion more harmful (p < 1/"
            f"{study.random_lesions}, ties count for the sub-module), drop >= "
            f"{100 * study.min_drop:g} pp, more than {PAPER_SMALL} units and not all "
            f"of its layer's live units"
        )
    return (
        f"Bonferroni rule: important = drop >= {100 * study.min_drop:g} pp and p < "
        f"{study.alpha:g}/{max(study.n_tested, 1)} = {study.threshold:.3g} over the "
        f"{study.n_tested} sub-modules with such a drop (ties count against)"
    )


def table(study) -> str:
    """The single-lesion results as a text table (drops in percentage points)."""
    paper = study.rule == "paper"
    lines = [
        f"base accuracy {study.base_accuracy:.4f} on {study.n_test} test examples; "
        f"{study.n_tested} sub-modules with drop >= {100 * study.min_drop:g} pp; "
        f"{rule_text(study)}",
        f"{'sub-module':>10s} {'size':>5s} {'drop pp':>8s} {'random pp':>14s} "
        f"{'z':>8s} {'p':>8s} {'R':>5s}  important" + ("  category" if paper else ""),
    ]
    for s in study.single:
        rand = f"{100 * s.random_mean:.2f} ± {100 * s.random_std:.2f}"
        lines.append(
            f"{s.name:>10s} {s.size:5d} {100 * s.drop:8.2f} {rand:>14s} "
            f"{s.z_score:8.2f} {s.p_value:8.4f} {s.n_random:5d}  "
            f"{'yes' if s.important else '':9s}" + (f"  {s.category}" if paper else "")
        )
    t = study.network_tests
    lines.append(
        f"network tests over {len(study.single)} sub-modules (R={t.n_random}): mean accuracy "
        f"chi2 p {t.mean_chi2_p:.3g}, Fisher p {t.mean_fisher_p:.3g}, effect "
        f"{t.mean_effect:.3f}; class spread chi2 p {t.spread_chi2_p:.3g}, Fisher p "
        f"{t.spread_fisher_p:.3g}, effect {t.spread_effect:.3f}"
    )
    if study.pairs:
        lines.append(
            "double lesions (pp): joint, sum of singles, interaction, z, p; "
            "conditional a|b, b|a (* = passes), dependency type"
        )
        for p in study.pairs:
            lines.append(
                f"{p.name_a + '+' + p.name_b:>12s} {100 * p.joint_drop:8.2f} "
                f"{100 * p.additive:8.2f} {100 * p.interaction:+8.2f} "
                f"{p.interaction_z:8.2f} {p.interaction_p:8.4f} "
                f"{100 * p.a_given_b:7.2f}{'*' if p.a_given_b_important else ' '} "
                f"{100 * p.b_given_a:7.2f}{'*' if p.b_given_a_important else ' '} "
                f"{p.dependency_type or '-'}"
            )
    elif study.double:
        lines.append(
            "double lesions: fewer than two "
            + ("important " if study.pair_set == "important" else "")
            + "sub-modules in different layers"
        )
    return "\n".join(lines)


def markdown(study) -> str:
    """The important sub-modules, network tests and pairs as Markdown, for reports."""
    top_up = (
        f" (topped up to {study.max_random_lesions} for candidates)"
        if study.rule == "bonferroni"
        else ""
    )
    out = [
        f"Base test accuracy {100 * study.base_accuracy:.2f} % ({study.n_test} examples), "
        f"k = {study.n_clusters}, {study.random_lesions} random lesions per sub-module"
        f"{top_up}. {len(study.single)} sub-modules, {study.n_tested} with a drop >= "
        f"{100 * study.min_drop:g} pp, {len(study.important)} important; {rule_text(study)}.",
        "",
        "| layer | important / sub-modules | sub-module (size): drop vs random mean ± std, pp |",
        "|---|---|---|",
    ]
    for layer in study.hidden_layers:
        subs = [s for s in study.single if s.layer == layer]
        imp = [s for s in subs if s.important]
        text = "; ".join(
            f"M{s.module} ({s.size}): {100 * s.drop:.2f} vs {100 * s.random_mean:.2f} ± "
            f"{100 * s.random_std:.2f}"
            for s in sorted(imp, key=lambda s: -s.drop)
        )
        # An MLP's layers go by number; a CNN's groups also by module name.
        label = (
            f"{layer} ({markdown_text(study.group_names[layer])}, {study.unit_kinds[layer]})"
            if "channels" in study.unit_kinds
            else f"{layer}"
        )
        out.append(f"| {label} | {len(imp)} / {len(subs)} | {text or '-'} |")
    if study.rule == "paper":
        counts: dict[str, int] = {}
        for s in study.single:
            counts[s.category] = counts.get(s.category, 0) + 1
        out += [
            "",
            "Categories (the authors' taxonomy): "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + ".",
        ]
    out += ["", _class_markdown(study), "", _network_markdown(study)]
    if study.pairs:
        out += [
            "",
            "| pair a + b | joint drop pp | sum of singles pp | interaction pp | z | p "
            "| a given b pp (p) | b given a pp (p) | type |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for p in study.pairs:
            out.append(
                f"| {markdown_text(p.name_a)} + {markdown_text(p.name_b)} | "
                f"{100 * p.joint_drop:.2f} | "
                f"{100 * p.additive:.2f} | {100 * p.interaction:+.2f} | "
                f"{p.interaction_z:.2f} | {p.interaction_p:.3g} | "
                f"{100 * p.a_given_b:.2f} ({p.a_given_b_p:.3g})"
                f"{' pass' if p.a_given_b_important else ''} | "
                f"{100 * p.b_given_a:.2f} ({p.b_given_a_p:.3g})"
                f"{' pass' if p.b_given_a_important else ''} | {p.dependency_type or '-'} |"
            )
        types = [p.dependency_type for p in study.pairs if p.dependency_type]
        out += [
            "",
            "Dependency types of pairs of important sub-modules (I: neither "
            "conditional lesion adds damage, II: only a given b, III: only b given a, "
            "IV: both; I-III suggest a feeds b): "
            + (
                ", ".join(f"{t} {types.count(t)}" for t in ("I", "II", "III", "IV"))
                if types
                else "none"
            )
            + ".",
        ]
    return "\n".join(out)


def _class_markdown(study) -> str:
    classes = range(len(study.class_sizes))
    head = "| sub-module | " + " | ".join(f"class {c}" for c in classes) + " |"
    lines = [
        "Accuracy change per class of the important sub-modules' lesions, pp "
        "(in brackets: mean of their random lesions):",
        "",
        head,
        "|---|" + "---|" * len(study.class_sizes),
    ]
    for s in study.important:
        change = 100 * (s.class_accuracy - study.base_class_accuracy)
        rand = 100 * (s.random_class_accuracy.mean(axis=0) - study.base_class_accuracy)
        lines.append(
            f"| {markdown_text(s.name)} | "
            + " | ".join(f"{c:+.1f} ({r:+.1f})" for c, r in zip(change, rand))
            + " |"
        )
    if not study.important:
        lines.append("| none | " + " | ".join("" for _ in classes) + " |")
    return "\n".join(lines)


def _network_markdown(study) -> str:
    t = study.network_tests
    return "\n".join(
        [
            f"Network-level tests over all {len(study.single)} sub-modules, {t.n_random} random "
            "lesions each (the authors' definitions):",
            "",
            "| statistic | chi-square p | Fisher p | effect factor |",
            "|---|---|---|---|",
            f"| mean class accuracy | {t.mean_chi2_p:.3g} | {t.mean_fisher_p:.3g} | "
            f"{t.mean_effect:.3f} |",
            f"| spread of class changes | {t.spread_chi2_p:.3g} | {t.spread_fisher_p:.3g} | "
            f"{t.spread_effect:.3f} |",
        ]
    )

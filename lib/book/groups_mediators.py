"""The page "Group effects and mediators on any panel": what a panel supports, and its numbers.

The heterogeneity and mechanisms chapters replicate the paper's Tables 7-13 and need its
groupings (region, industry, city_size, agglomeration) and mediators (Diginf, Spec, Envir).
This page runs the same designs on whatever the panel has:

* :func:`choose_groupings` and :func:`choose_mediators` pick the columns (the ones asked for,
  else the column file's, else the paper's on the book's own panel) and say in words why any
  column cannot serve;
* :func:`group_results` / :func:`grouping_tables` / :func:`grouping_figure` /
  :func:`grouping_text`: every grouping's subsample and interacted effects, the Wald test;
* :func:`mediator_results` / :func:`mediator_table` / :func:`mediator_text`: the three-step
  paths with the fixed effects the reader chooses.

Tested in ``tests/test_groups_mediators.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.book.chapter import ChapterUnsupported, Cited, result_record

__all__ = ["Choice", "MAX_LEVELS", "choose_groupings", "choose_mediators", "group_results",
           "grouping_figure", "grouping_tables", "grouping_text", "mediator_results",
           "grouping_values", "mediator_table", "mediator_text", "mediator_values",
           "require_something", "section_notice", "true_group_effects"]

#: Groupings with more levels than this are left out (coarsen them first): an interacted
#: model with dozens of level×treatment terms estimates each of them from a handful of units.
MAX_LEVELS = 20


@dataclass(frozen=True)
class Choice:
    """The columns a section runs on, and why any other column named was left out."""

    used: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _names(requested: str | Sequence[str]) -> list[str]:
    if isinstance(requested, str):
        return [n for n in re.split(r"[,\s]+", requested) if n]
    return list(requested)


def _role_columns(spec) -> set[str]:
    """The panel's role columns (canonical names after the loader) and its controls: none of them
    can also be a grouping or a mediator."""
    return {"city_id", "year", "Inno", "CBEC", "adoption_year", "treated", *spec.controls}


def choose_groupings(data, requested: str | Sequence[str] = "") -> Choice:
    """The grouping columns of ``data`` this page can estimate group effects for.

    ``requested`` (a comma-separated string or a list) wins; else the column file's
    ``groups:``; on the book's own panel (or one declared the paper's) the paper's four. A
    grouping must be a unit-level property with no missing values, between 2 and
    :data:`MAX_LEVELS` levels and treated units in at least two of them; each column that is not
    gets a sentence saying why.
    """
    from lib.book.heterogeneity import GROUPINGS

    spec = data.panel.spec
    frame = data.frame
    unit = "city_id"
    names = _names(requested)
    if not names:
        names = ([g for g in GROUPINGS if g in frame.columns] if data.paper_comparable
                 else list(spec.groups))
    roles = {*_role_columns(spec), *spec.mediators}
    used, notes = [], []
    n_units = frame[unit].nunique()
    ever = frame.groupby(unit)["CBEC"].max() > 0
    for g in dict.fromkeys(names):
        if g not in frame.columns:
            notes.append(f"`{g}` is not a column of the panel.")
            continue
        if g in roles:
            notes.append(f"`{g}` plays another role in the panel (unit, period, outcome, "
                         "treatment, control or mediator), so it cannot also define groups.")
            continue
        missing = frame[g].isna()
        if missing.any():
            bad = frame.loc[missing, unit].nunique()
            notes.append(f"`{g}` is missing for {bad} of the {n_units} units; classify every unit "
                         "(or drop the unclassified ones) to use it.")
            continue
        per_unit = frame.groupby(unit)[g].nunique()
        if (per_unit > 1).any():
            notes.append(f"`{g}` changes over time within {int((per_unit > 1).sum())} units; a "
                         "grouping must be fixed before treatment (e.g. at a base year), or the "
                         "groups could themselves respond to the policy.")
            continue
        level = frame.groupby(unit)[g].first()
        k = level.nunique()
        if k == n_units and n_units > MAX_LEVELS:
            notes.append(f"`{g}` has a different value for every unit: it names units rather "
                         "than grouping them.")
            continue
        if k < 2 or k > MAX_LEVELS:
            notes.append(f"`{g}` has {k} level{'s' if k != 1 else ''}; this page compares 2 to "
                         f"{MAX_LEVELS} (coarsen it, or give it a second level).")
            continue
        with_treated = level[ever].nunique()
        if with_treated < 2:
            notes.append(f"only {with_treated} level of `{g}` has treated units, so there are "
                         "no group effects to compare.")
            continue
        used.append(g)
    return Choice(tuple(used), tuple(notes))


def choose_mediators(data, requested: str | Sequence[str] = "") -> Choice:
    """The mediators to run: ``requested`` (checked), else the column file's ``mediators:``."""
    spec = data.panel.spec
    frame = data.frame
    names = _names(requested) or list(spec.mediators)
    used, notes = [], []
    for m in dict.fromkeys(names):
        if m not in frame.columns:
            notes.append(f"`{m}` is not a column of the panel.")
        elif m in _role_columns(spec):
            notes.append(f"`{m}` is the unit, period, outcome, treatment or a control; a mediator "
                         "must be another variable.")
        elif not pd.api.types.is_numeric_dtype(frame[m]):
            notes.append(f"`{m}` is not numeric; a mediator of the linear three-step model must be.")
        elif frame[m].nunique(dropna=True) < 2:
            notes.append(f"`{m}` is constant in the sample.")
        else:
            used.append(m)
    return Choice(tuple(used), tuple(notes))


def require_something(groupings: Choice, mediators: Choice) -> None:
    """Stop the page with a sentence for the reader when it has neither groupings nor mediators."""
    if groupings.used or mediators.used:
        return
    why = " ".join((*groupings.notes, *mediators.notes))
    raise ChapterUnsupported(
        "This page estimates group effects for each grouping column and the three-step mediation "
        "for each mediator the column file names, and this panel has neither usable"
        + (f" ({why})" if why else "") + ". Name unit-level grouping columns under `groups:` and "
        "mediators under `mediators:` in the column file, or pass `-p groups COL,COL` and "
        "`-p mediators COL,COL`.")


def section_notice(kind: str, choice: Choice) -> str:
    """The sentence(s) of a section's notice: what was left out, or that nothing could run."""
    if choice.used:
        return " ".join(choice.notes)
    if kind == "groups":
        head = ("This panel supports no grouping, so this section is empty. Name unit-level "
                "grouping columns under `groups:` in the column file (or `-p groups COL,COL`).")
    else:
        head = ("This panel names no mediator, so this section is empty. Name them under "
                "`mediators:` in the column file (or `-p mediators COL,COL`).")
    return " ".join((head, *choice.notes))


# ------------------------------------------------------------------- group effects
def group_results(data, groupings: Sequence[str], *, controls: Sequence[str], cluster: str):
    """:func:`lib.methods.heterogeneity.group_effects` for each grouping (levels in the
    paper's order for the paper's groupings, else sorted)."""
    from lib.book.heterogeneity import GROUPINGS
    from lib.methods.heterogeneity import group_effects

    out = {}
    for g in groupings:
        present = set(data.frame[g].unique())
        paper = GROUPINGS.get(g, ((), 0))[0]
        levels = [lev for lev in paper if lev in present] if set(paper) == present else None
        out[g] = group_effects(data.frame, yname="Inno", dname="CBEC", group=g, idname="city_id",
                               tname="year", controls=list(controls), vcov={"CRV1": cluster},
                               levels=levels)
    return out


def true_group_effects(data, group: str, controls: Sequence[str] = ()) -> pd.Series | None:
    """Mean true effect of each level's treated unit-years among the rows a DID with
    ``controls`` uses (the complete cases, as :meth:`ChapterData.true_att_of`); ``None``
    without a truth."""
    from lib.data import model_frame

    if not data.synthetic:
        return None
    eff = data.truth.effects
    post = eff.loc[eff["CBEC"] == 1, ["city_id", "year", "tau"]]
    used, _ = model_frame(data.frame, ["Inno", "CBEC", *controls, "city_id", "year"])
    rows = data.frame.loc[used.index, ["city_id", "year", group]]
    return post.merge(rows, on=["city_id", "year"]).groupby(group)["tau"].mean().rename("truth")


def grouping_tables(results: Mapping[str, Any], truths: Mapping[str, pd.Series | None]):
    """Two tables: each level's units and effects (subsample, interacted; truth where known),
    and each grouping's test of equal effects."""
    from lib.present.tables import frame_table

    rows, tests = [], []
    for g, ge in results.items():
        tid = ge.tidy().set_index(["level", "method"])
        truth = truths.get(g)
        for lev in ge.levels:
            row = {"grouping": g, "level": str(lev)}
            for method in ("subsample", "interacted"):
                r = tid.loc[(lev, method)] if (lev, method) in tid.index else None
                row[method] = float(r["estimate"]) if r is not None else np.nan
                row[f"{method} s.e."] = float(r["std_error"]) if r is not None else np.nan
            if truth is not None:
                row["truth"] = float(truth.get(lev, np.nan))
            row["N (subsample)"] = (int(ge.subsamples[lev].nobs) if lev in ge.subsamples
                                    else np.nan)
            rows.append(row)
        w = ge.wald
        tests.append({"grouping": g, "levels": len(ge.levels), "F": w["statistic"],
                      "df": int(w["df"]), "df (denominator)": w["df_denom"], "p": w["p"]})
    effects = pd.DataFrame(rows).set_index(["grouping", "level"])
    effects["N (subsample)"] = effects["N (subsample)"].astype("Int64")   # blank, not 1,118.0000
    notes = ["Subsample: the two-way FE DID on the level's units only. Interacted: one model with "
             "a level×treatment term for every level, so that no treated unit-year serves as a "
             "control. Cluster-robust standard errors."]
    skipped = [f"{g}: {lev} ({why})" for g, ge in results.items()
               for lev, why in {**ge.skipped, **ge.no_subsample}.items()]
    if skipped:
        notes.append("Not estimated: " + "; ".join(skipped) + ".")
    return (frame_table(effects, title="Group effects: subsample and interacted model", notes=notes),
            frame_table(pd.DataFrame(tests).set_index("grouping"),
                        title="Tests that a grouping's effects are equal (interacted model)",
                        notes="F = W/(L-1) from the cluster-robust Wald statistic, against "
                              "F(L-1, G-1) with G clusters."))


def grouping_figure(results: Mapping[str, Any], truths: Mapping[str, pd.Series | None]):
    """One forest plot of every grouping's subsample and interacted effects (95% CI), with the
    true effects where they are known."""
    from lib.present import figures

    parts = []
    for g, ge in results.items():
        tid = ge.tidy()
        tid = tid[tid["method"].isin(("subsample", "interacted"))].copy()
        tid["label"] = [f"{g} = {lev} · {m}" for lev, m in zip(tid["level"], tid["method"])]
        truth = truths.get(g)
        tid["truth"] = [float(truth.get(lev, np.nan)) if truth is not None else np.nan
                        for lev in tid["level"]]
        parts.append(tid)
    frame = pd.concat(parts, ignore_index=True)
    known = frame["truth"].notna().any()
    fig, ax = figures.new_axes(figsize=(7.0, 1.4 + 0.3 * len(frame)))
    return figures.coefficient_plot(frame, truth="truth" if known else None, ax=ax,
                                    xlabel="Effect of the treatment on the outcome (95% CI)")


def grouping_text(results: Mapping[str, Any]) -> str:
    """One sentence per grouping: what its test of equal effects says."""
    from lib.book.chapter import and_list

    if not results:
        return ""
    reject = [g for g, ge in results.items() if ge.wald["p"] < 0.05]
    keep = [g for g in results if g not in reject]

    def cite(g):
        w = results[g].wald
        return f"{g} (F = {w['statistic']:.2f}, p = {w['p']:.3f})"

    parts = []
    if reject:
        parts.append(f"The test of equal effects rejects at the 5 % level for {and_list(map(cite, reject))}: "
                     "on these data the effect differs across those groups.")
    if keep:
        parts.append(f"It does not reject for {and_list(map(cite, keep))}: whatever the point "
                     "estimates, these data do not show that the groups' effects differ.")
    return " ".join(parts)


def grouping_values(results: Mapping[str, Any], truths: Mapping[str, pd.Series | None]) -> Cited:
    """The section's sentence (``groups_text``) and its records: each level's interacted effect
    and each grouping's Wald test."""
    records = {}
    for g, ge in results.items():
        truth = truths.get(g)
        for lev in ge.levels:
            records[f"groups_{g}_{lev}_interacted"] = result_record(
                ge.interacted, ge.term(lev),
                truth=float(truth[lev]) if truth is not None and lev in truth else None)
        records[f"groups_{g}_wald_equal"] = dict(
            estimate=ge.wald["statistic"], p=ge.wald["p"], nobs=ge.interacted.nobs,
            df=ge.wald["df"], df_denom=ge.wald["df_denom"])
    return Cited({"groups_text": grouping_text(results)}, records=records)


# ------------------------------------------------------------------------ mediators
def mediator_results(data, mediators: Sequence[str], *, controls: Sequence[str], cluster: str,
                     effects: str, bootstrap_reps: int, seed: int):
    """:func:`lib.methods.mediation.three_step` for each mediator, with the chosen effects."""
    from lib.methods.mediation import three_step

    return {m: three_step(data.frame, yname="Inno", dname="CBEC", mediator=m, idname="city_id",
                          tname="year", controls=list(controls), vcov={"CRV1": cluster},
                          bootstrap_reps=int(bootstrap_reps), seed=int(seed), effects=effects,
                          progress="auto")
            for m in mediators}


def mediator_table(results: Mapping[str, Any], truth: pd.DataFrame | None):
    """One row per mediator: a, b, c', c, a·b with its bootstrap interval, Sobel z, share
    mediated and N (the true a, b and a·b beside them where known)."""
    from lib.present.tables import frame_table

    rows = []
    for m, med in results.items():
        lo, hi = med.bootstrap_ci
        row = {"mediator": m, "a": med.a, "a s.e.": med.se_a, "b": med.b, "b s.e.": med.se_b,
               "direct c'": med.direct, "total c": med.total_effect, "indirect a·b": med.indirect,
               "a·b 95% CI lower": lo, "a·b 95% CI upper": hi, "Sobel z": med.sobel_z,
               "Sobel p": med.sobel_p, "share mediated": med.proportion_mediated, "N": med.nobs}
        if truth is not None and m in truth.index:
            row.update({"true a": float(truth.loc[m, "a"]), "true b": float(truth.loc[m, "b"]),
                        "true a·b": float(truth.loc[m, "indirect"])})
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("mediator")
    any_med = next(iter(results.values()))
    effects = {"twoway": "unit and period fixed effects", "unit": "unit fixed effects",
               "none": "no fixed effects"}[any_med.spec["effects"]]
    reps = any_med.spec["bootstrap_reps"]
    ci = (f"percentile interval of a cluster bootstrap with {reps} replications" if reps
          else "no bootstrap (bootstrap_reps = 0)")
    return frame_table(frame, title="Three-step mediation, one row per mediator",
                       collapse=[c for c in ("a s.e.", "b s.e.", "direct c'", "total c", "Sobel p",
                                             "share mediated", "N") if c in frame.columns],
                       collapse_title="More columns: s.e. of a and b, direct and total effects, "
                                      "Sobel p, share mediated, N",
                       notes=[f"Eqs. 7, 9 and 10 with {effects} and the same controls, on one "
                              f"common sample per mediator; a·b 95% CI: {ci}. Share mediated = "
                              "a·b / c."])


def mediator_text(results: Mapping[str, Any]) -> str:
    """One sentence per mediator: the indirect effect, its interval, and what it can mean."""
    parts = []
    for m, med in results.items():
        lo, hi = med.bootstrap_ci
        where = (f"its bootstrap 95% interval [{lo:.4g}, {hi:.4g}] "
                 + ("excludes zero" if lo > 0 or hi < 0 else "includes zero")
                 if np.isfinite(lo) else f"its Sobel z is {med.sobel_z:.2f}")
        parts.append(f"Through `{m}`, a·b = {med.indirect:.4g} ({where}; a = {med.a:.4g}, "
                     f"b = {med.b:.4g}).")
    if parts:
        parts.append("An indirect effect is causal only under sequential ignorability: nothing "
                     "unobserved may drive both the mediator and the outcome.")
    return " ".join(parts)


def mediator_values(results: Mapping[str, Any], truth: pd.DataFrame | None) -> Cited:
    """The section's sentence (``mediators_text``) and its records: each mediator's a, b and a·b."""
    records = {}
    for m, med in results.items():
        t = truth.loc[m] if truth is not None and m in truth.index else None
        records[f"mediator_{m}_a"] = result_record(med.a_path, med.dname,
                                                   truth=float(t["a"]) if t is not None else None)
        records[f"mediator_{m}_b"] = result_record(med.b_path, m,
                                                   truth=float(t["b"]) if t is not None else None)
        lo, hi = med.bootstrap_ci
        records[f"mediator_{m}_indirect"] = dict(
            estimate=med.indirect, std_error=med.indirect_se, p=med.sobel_p, nobs=med.nobs,
            ci_lower=lo, ci_upper=hi, truth=float(t["indirect"]) if t is not None else None)
    return Cited({"mediators_text": mediator_text(results)}, records=records)

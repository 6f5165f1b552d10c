"""A specification curve of the headline DID estimate (Simonsohn, Simmons and Nelson 2020).

Every combination of the choices an analyst could defend for Table 4 -- the sample, the
controls, the clustering level, the treatment-timing rule, the estimator and the matching
variant -- is estimated on one panel (the book's or a reader's), and each estimate is one
row of the results registry (:mod:`lib.methods.registry`), keyed by a hash of the panel's
contents, the choices and the library versions: a re-run computes only new combinations.

This module works on the book's canonical column names (``Inno``, ``CBEC``, ``city_id``,
``year``, ``adoption_year``), which :func:`lib.book.chapter.chapter_data` gives every panel.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lib.methods.registry import Registry, canonical, run_key, run_tasks, versions

__all__ = ["CURVE_SAMPLES", "CURVE_ESTIMATORS", "TIMING_RULES", "PAPER_SPEC", "Spec", "specifications",
           "panel_key", "run_curve", "curve_summary", "plot_curve", "CurveRun"]

Y, D, UNIT, TIME, COHORT = "Inno", "CBEC", "city_id", "year", "adoption_year"
#: Named samples that estimate the same quantity as the full sample (regional subsamples
#: estimate another one: they belong in the heterogeneity chapter, not here).
CURVE_SAMPLES = ("all", "no_municipalities", "excluding_2020_batch", "balanced", "years_2012_2021",
                 "pilots_only")
#: How treatment starts: the adoption year as coded, or the first full year after it.
TIMING_RULES = {"as coded": 0, "a year later": 1}
#: estimator -> (uses controls, takes a cluster choice, needs controls)
CURVE_ESTIMATORS = {
    "TWFE": (True, True, False),
    "PSM-DID (kernel)": (True, True, True),
    "PSM-DID (5 nearest)": (True, True, True),
    "Callaway-Sant'Anna": (True, False, False),
    "Imputation (BJS)": (True, False, False),
}
#: The paper's own specification (Table 4, column 2).
PAPER_SPEC = {"sample": "all", "controls": "all", "cluster": UNIT, "timing": "as coded",
              "estimator": "TWFE"}
CHOICES = ("sample", "controls", "cluster", "timing", "estimator")


@dataclass(frozen=True)
class Spec:
    """One combination of choices."""

    sample: str
    controls: str        # "none" or "all"
    cluster: str         # a column name
    timing: str          # a key of TIMING_RULES
    estimator: str       # a key of CURVE_ESTIMATORS

    def params(self) -> dict[str, str]:
        return {c: getattr(self, c) for c in CHOICES}


def panel_key(frame: pd.DataFrame) -> str:
    """``sha256:`` of a panel's contents (values, column names, row order): the registry's
    data source. The same file read on any machine gives the same key."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


def cluster_choices(frame: pd.DataFrame, spec_cluster: str | None = None) -> list[str]:
    """The unit, the column file's cluster variable and, if the panel has it, the province."""
    out = [UNIT]
    for c in (spec_cluster, "province"):
        if c and c in frame.columns and c not in out:
            out.append(c)
    return out


def specifications(frame: pd.DataFrame, controls: Sequence[str], *, spec_cluster: str | None = None,
                   samples: Sequence[str] = CURVE_SAMPLES) -> tuple[list[Spec], dict[str, str]]:
    """Every defensible combination this panel supports, and why the others are left out
    (sample name -> the reason the panel cannot support it)."""
    from lib.data.samples import SAMPLES, apply_sample

    unknown = [s for s in samples if s not in SAMPLES]
    if unknown:
        raise ValueError(f"unknown sample(s) {unknown}; the named samples are {', '.join(SAMPLES)}")
    usable, skipped, seen = [], {}, {}
    for s in samples:
        try:
            rows, _ = apply_sample(frame, s)
        except Exception as err:  # noqa: BLE001 - a sample this panel cannot form: say why
            skipped[s] = str(err).splitlines()[0]
            continue
        ident = (len(rows), panel_key(rows))
        if ident in seen:   # e.g. "balanced" on a balanced panel: the same rows, the same estimates
            skipped[s] = f"the same rows as the sample {seen[ident]!r} on this panel"
            continue
        seen[ident] = s
        usable.append(s)
    specs = []
    control_sets = ["none", "all"] if controls else ["none"]
    if not controls:
        skipped["controls = all"] = "the panel declares no controls"
    for s, t, e in itertools.product(usable, TIMING_RULES, CURVE_ESTIMATORS):
        uses_controls, clustered, needs_controls = CURVE_ESTIMATORS[e]
        if needs_controls and not controls:
            skipped.setdefault(e, "matching needs controls to match on; the panel declares none")
            continue
        sets = ["all"] if needs_controls else control_sets
        clusters = cluster_choices(frame, spec_cluster) if clustered else [UNIT]
        for c, cl in itertools.product(sets, clusters):
            specs.append(Spec(s, c, cl, t, e))
    return specs, skipped


def _recode(frame: pd.DataFrame, shift: int) -> pd.DataFrame:
    """Treatment starting ``shift`` years after the coded adoption year; adoption after the
    panel's last year means never treated within it."""
    if not shift:
        return frame
    out = frame.copy()
    g = pd.to_numeric(out[COHORT], errors="coerce").astype(float) + shift
    g = g.where(g <= float(out[TIME].max()))
    out[COHORT] = g
    out[D] = np.where(g.notna() & (out[TIME].to_numpy(float) >= g.fillna(np.inf)), 1, 0)
    return out


def estimate(frame: pd.DataFrame, spec: Spec, controls: Sequence[str]) -> dict[str, Any]:
    """One specification on ``frame`` (canonical columns): estimate, s.e., 95 % interval, N."""
    from lib.data.samples import apply_sample
    from lib.methods import did, psm, staggered

    data, _ = apply_sample(frame, spec.sample)
    data = _recode(data, TIMING_RULES[spec.timing])
    ctrl = list(controls) if spec.controls == "all" else []
    vcov = {"CRV1": spec.cluster}
    has_never = data.groupby(UNIT)[COHORT].first().isna().any()
    if spec.estimator == "TWFE":
        r = did.twfe(data, yname=Y, dname=D, idname=UNIT, tname=TIME, controls=ctrl, vcov=vcov)
        return _regression(r)
    if spec.estimator.startswith("PSM-DID"):
        score = psm.propensity_score(data, treatment=D, covariates=ctrl, outcome=Y, idname=UNIT, tname=TIME)
        match = (psm.kernel_match(score, bandwidth=0.06) if "kernel" in spec.estimator
                 else psm.nn_match(score, k=5, ties="keep", seed=0))
        r = psm.psm_did(data, match, yname=Y, dname=D, controls=ctrl, idname=UNIT, tname=TIME,
                        cluster=spec.cluster)
        return _regression(r)
    g = data.assign(**{COHORT: pd.to_numeric(data[COHORT], errors="coerce").astype(float)})
    kw = dict(yname=Y, idname=UNIT, tname=TIME, gname=COHORT)
    if spec.estimator == "Callaway-Sant'Anna":
        cs = staggered.callaway_santanna(
            g, control_group="never_treated" if has_never else "not_yet_treated", controls=ctrl,
            estimation_method="dr" if ctrl else "reg", **kw)
        o = cs.aggregate("simple").overall
        return _normal(o["estimate"], o["std_error"], cs.nobs if ctrl else len(g))
    if spec.estimator == "Imputation (BJS)":
        r = staggered.imputation(g, controls=ctrl, event_times=False, **kw)
        return _normal(r.overall["estimate"], r.overall["std_error"], r.nobs)
    raise ValueError(f"unknown estimator {spec.estimator!r}; choose from {', '.join(CURVE_ESTIMATORS)}")


def _normal(est, se, nobs) -> dict[str, Any]:
    z = 1.959963984540054
    return {"estimate": float(est), "std_error": float(se), "ci_low": float(est - z * se),
            "ci_high": float(est + z * se), "nobs": int(nobs)}


def _regression(r) -> dict[str, Any]:
    c = r.coef(D)
    ci = r.conf_int().loc[D]
    return {"estimate": float(c["estimate"]), "std_error": float(c["std_error"]),
            "ci_low": float(ci.iloc[0]), "ci_high": float(ci.iloc[1]), "nobs": int(c["nobs"])}


@dataclass(frozen=True)
class _CurveTask:
    frame: pd.DataFrame
    controls: tuple[str, ...]
    specs: tuple[Spec, ...]
    source: str
    version: str


def _curve_rows(task: _CurveTask) -> list[dict[str, Any]]:
    rows = []
    for spec in task.specs:
        key = run_key(source=task.source, params=spec.params(), seed=0, estimator=spec.estimator,
                      version=task.version)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values, error = estimate(task.frame, spec, task.controls), ""
        except Exception as err:  # noqa: BLE001 - recorded in the row and counted
            values = {"estimate": np.nan, "std_error": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                      "nobs": 0}
            error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        rows.append({"key": key, "source": task.source, "params": canonical(spec.params()), "seed": 0,
                     "estimator": spec.estimator, "version": task.version, **values, "truth": np.nan,
                     "target": np.nan, "pretest_p": np.nan, "error": error})
    return rows


@dataclass
class CurveRun:
    """Every specification's row (choices as columns), what was left out and why, and how many
    rows were computed now."""

    rows: pd.DataFrame
    skipped: dict[str, str]
    computed: int


def run_curve(frame: pd.DataFrame, controls: Sequence[str], *, registry: Registry,
              spec_cluster: str | None = None, workers: int = 1, scheduler: Any = None,
              samples: Sequence[str] = CURVE_SAMPLES) -> CurveRun:
    """Estimate every specification of :func:`specifications` the registry lacks; return all."""
    specs, skipped = specifications(frame, controls, spec_cluster=spec_cluster, samples=samples)
    source, version = panel_key(frame), versions()
    keys = [run_key(source=source, params=s.params(), seed=0, estimator=s.estimator, version=version)
            for s in specs]
    todo = set(registry.missing(keys))
    missing = [s for s, k in zip(specs, keys) if k in todo]
    computed = 0
    if missing:
        # one task per (sample, timing): the specifications of one data set share its work
        groups: dict[tuple, list[Spec]] = {}
        for s in missing:
            groups.setdefault((s.sample, s.timing), []).append(s)
        tasks = [_CurveTask(frame, tuple(controls), tuple(g), source, version) for g in groups.values()]
        results = run_tasks(_curve_rows, tasks, workers=workers, scheduler=scheduler)
        computed = registry.add(pd.DataFrame([r for rs in results for r in rs]))
    got = registry.get(keys).set_index("key").loc[keys].reset_index()
    choices = pd.DataFrame([s.params() for s in specs])
    rows = pd.concat([choices, got[["estimate", "std_error", "ci_low", "ci_high", "nobs", "error", "key"]]],
                     axis=1)
    return CurveRun(rows=rows, skipped=skipped, computed=computed)


def curve_summary(rows: pd.DataFrame, *, truth: float | None = None,
                  paper: dict[str, str] | None = None) -> dict[str, Any]:
    """Share significant at 5 %, median and range of the estimates, the paper's specification's
    rank, and (given the truth) the share of intervals that cover it."""
    paper = PAPER_SPEC if paper is None else paper
    ok = rows[(rows["error"] == "") & rows["estimate"].notna()].copy()
    ok = ok.sort_values("estimate", kind="stable").reset_index(drop=True)
    sig = (ok["ci_low"] > 0) | (ok["ci_high"] < 0)
    mask = np.logical_and.reduce([ok[c] == v for c, v in paper.items()]) if len(ok) else np.array([])
    out = {"n_specs": int(len(rows)), "n_ok": int(len(ok)), "n_failed": int(len(rows) - len(ok)),
           "share_significant": float(sig.mean()) if len(ok) else np.nan,
           "share_positive_significant": float((ok["ci_low"] > 0).mean()) if len(ok) else np.nan,
           "median": float(ok["estimate"].median()) if len(ok) else np.nan,
           "low": float(ok["estimate"].min()) if len(ok) else np.nan,
           "high": float(ok["estimate"].max()) if len(ok) else np.nan,
           "paper_rank": int(np.flatnonzero(mask)[0] + 1) if mask.any() else None,
           "paper_estimate": float(ok.loc[mask, "estimate"].iloc[0]) if mask.any() else np.nan}
    if truth is not None and np.isfinite(truth) and len(ok):
        out["share_covering_truth"] = float(((ok["ci_low"] <= truth) & (truth <= ok["ci_high"])).mean())
    return out


def plot_curve(rows: pd.DataFrame, *, truth: float | None = None, paper_number: float | None = None,
               paper: dict[str, str] | None = None, label: str = "") -> Any:
    """The curve: sorted estimates with 95 % intervals (filled: the interval excludes 0), the
    paper's specification marked; beneath, a dot for each choice of each specification."""
    import matplotlib.pyplot as plt

    from lib.present.figures import PALETTE

    paper = PAPER_SPEC if paper is None else paper
    ok = rows[(rows["error"] == "") & rows["estimate"].notna()].sort_values("estimate", kind="stable")
    ok = ok.reset_index(drop=True)
    x = np.arange(1, len(ok) + 1)
    levels = [(c, v) for c in CHOICES for v in dict.fromkeys(rows[c]) if (ok[c] == v).any()]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.4, 3.2 + 0.16 * len(levels)), sharex=True,
                                      layout="constrained",
                                      gridspec_kw={"height_ratios": [2.2, 0.16 * len(levels) + 0.4]})
    sig = ((ok["ci_low"] > 0) | (ok["ci_high"] < 0)).to_numpy()
    top.vlines(x, ok["ci_low"], ok["ci_high"], color=PALETTE["book"], alpha=0.35, lw=1.0)
    top.scatter(x[sig], ok["estimate"][sig], s=10, color=PALETTE["book"], label="interval excludes 0")
    top.scatter(x[~sig], ok["estimate"][~sig], s=10, facecolors="none", edgecolors=PALETTE["book"],
                label="interval includes 0")
    mask = np.logical_and.reduce([ok[c] == v for c, v in paper.items()])
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        top.scatter([x[i]], [ok["estimate"].iloc[i]], marker="D", s=48, color=PALETTE["highlight"],
                    zorder=5, label="the paper's specification")
    top.axhline(0, color=PALETTE["reference"], lw=0.8)
    if truth is not None and np.isfinite(truth):
        top.axhline(truth, color=PALETTE["truth"], lw=1.3, ls=":", label=f"truth ({truth:.4f})")
    if paper_number is not None and np.isfinite(paper_number):
        top.axhline(paper_number, color=PALETTE["highlight"], lw=1.0, ls="--",
                    label=f"paper's printed estimate ({paper_number:.4f})")
    top.set_ylabel("Estimate (95 % CI)" + (f"\n{label}" if label else ""))
    top.legend(loc="upper left", fontsize="x-small", ncol=2)
    for j, (c, v) in enumerate(levels):
        on = (ok[c] == v).to_numpy()
        bottom.scatter(x[on], np.full(on.sum(), j), s=5, marker="s", color=PALETTE["book"])
    bottom.set_yticks(range(len(levels)))
    bottom.set_yticklabels([f"{c}: {v}" for c, v in levels], fontsize="x-small")
    bottom.set_ylim(len(levels) - 0.5, -0.5)
    bottom.set_xlabel("Specification, sorted by its estimate")
    return fig


# ------------------------------------------------------------------ the chapter's pieces
_WHY = {
    "sample": "named samples that estimate the same effect (lib.data.samples): the full panel, without "
              "the province-level municipalities, without the 2020 batch, balanced, from 2012, pilots only",
    "controls": "none, or the column file's controls",
    "cluster": "the unit, or a coarser level the panel has (the column file's cluster, the province)",
    "timing": "treated from the coded adoption year, or from the first full year after it",
    "estimator": "TWFE; PSM-DID on kernel- or 5-nearest-neighbour-matched city-years; "
                 "Callaway-Sant'Anna; the imputation estimator",
}


def choices_table(rows: pd.DataFrame):
    """The choices and their options, with how many specifications use each."""
    from lib.present.tables import frame_table

    out = []
    for c in CHOICES:
        counts = rows[c].value_counts(sort=False)
        out.append({"choice": c, "options": "; ".join(f"{v} ({n})" for v, n in counts.items()),
                    "why_defensible": _WHY[c]})
    return frame_table(pd.DataFrame(out).set_index("choice"), title="The choices of the curve",
                       name="curve_choices",
                       notes=f"{len(rows):,} specifications: every combination the panel supports "
                             "(matching needs controls; only the regressions take a cluster choice). "
                             "In parentheses: how many specifications use the option.")


def by_choice_table(rows: pd.DataFrame):
    """Median estimate and share significant at 5 % for each option of each choice."""
    from lib.present.tables import frame_table

    ok = rows[(rows["error"] == "") & rows["estimate"].notna()]
    sig = (ok["ci_low"] > 0) | (ok["ci_high"] < 0)
    out = []
    for c in CHOICES:
        for v in dict.fromkeys(rows[c]):
            m = ok[c] == v
            out.append({"choice": c, "option": v, "specifications": int(m.sum()),
                        "median_estimate": float(ok.loc[m, "estimate"].median()) if m.any() else np.nan,
                        "share_significant": float(sig[m].mean()) if m.any() else np.nan})
    df = pd.DataFrame(out).set_index(["choice", "option"])
    return frame_table(df, title="What moves the estimate", name="curve_by_choice",
                       float_format={"median_estimate": "{:.4f}", "share_significant": "{:.2f}"},
                       notes="For each option: the specifications that use it, their median estimate "
                             "and the share whose 95 % interval excludes zero.")


def curve_values(summary: dict[str, Any], *, truth: float, paper_number: float | None,
                 skipped: dict[str, str], rows: pd.DataFrame | None = None) -> dict[str, Any]:
    """What the chapter cites (keys ``curve_*``); sentences that depend on the data."""
    s = summary
    out = {"curve_n": s["n_specs"], "curve_share_sig": 100 * s["share_significant"],
           "curve_median": s["median"], "curve_low": s["low"], "curve_high": s["high"]}
    out["curve_failed"] = ("" if not s["n_failed"] else
                           f" {s['n_failed']} specifications failed on this panel; they are listed with "
                           "their errors in the CSV download and left out of the curve.")
    if s["paper_rank"] is None:
        out["curve_paper"] = ("The paper's own specification (TWFE with all controls on the full sample, "
                              "clustered by unit, treatment as coded) is not among them on this panel.")
    else:
        pct = 100 * (s["paper_rank"] - 0.5) / s["n_ok"]
        out["curve_paper"] = (f"The paper's own specification (TWFE with all controls on the full sample, "
                              f"clustered by unit, treatment as coded) gives {s['paper_estimate']:.4f}, "
                              f"number {s['paper_rank']} of {s['n_ok']} from the bottom: "
                              f"{'below' if pct < 45 else 'above' if pct > 55 else 'near'} the middle of "
                              f"the curve (percentile {pct:.0f}).")
    if np.isfinite(truth):
        cover = 100 * s.get("share_covering_truth", np.nan)
        out["curve_truth"] = (f" Because the data are semi-synthetic the truth is known: {truth:.4f}. "
                              f"{cover:.0f} % of the specifications' 95 % intervals cover it, and the "
                              f"median estimate misses it by {s['median'] - truth:+.4f}.")
    else:
        out["curve_truth"] = ""
    if paper_number is not None and np.isfinite(paper_number):
        out["curve_paper_number"] = (f" The paper prints {paper_number:.4f} for that specification on "
                                     "its own data, which this panel only imitates.")
    else:
        out["curve_paper_number"] = ""
    out["curve_choice"] = choice_sentence(rows) if rows is not None else ""
    out["curve_skipped"] = ("" if not skipped else
                            "Left out on this panel: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())
                            + ".")
    return out


def with_truth(rows: pd.DataFrame, data) -> pd.DataFrame:
    """``rows`` with each specification's ``truth``: on the book's semi-synthetic panel, the true
    ATT over the treated city-years of its sample (as the panel codes treatment); NaN otherwise."""
    from lib.data.samples import apply_sample

    out = rows.copy()
    truth = {}
    for s in dict.fromkeys(out["sample"]):
        truth[s] = data.true_att(apply_sample(data.panel.data, s)[0]) if data.synthetic else np.nan
    out["truth"] = out["sample"].map(truth).astype(float)
    return out


_CHOICE_WORDS = {"sample": "sample", "controls": "choice of controls", "cluster": "clustering level",
                 "timing": "timing rule", "estimator": "estimator"}


def choice_sentence(rows: pd.DataFrame) -> str:
    """Which choice moves the median estimate most across its options, and which least."""
    ok = rows[(rows["error"] == "") & rows["estimate"].notna()]
    spread = {}
    for c in CHOICES:
        med = ok.groupby(c, sort=False)["estimate"].median()
        if len(med) > 1:
            spread[c] = (med.max() - med.min(), med.idxmin(), med.min(), med.idxmax(), med.max())
    if not spread:
        return "Every choice has a single option on this panel, so none can move the estimate."
    order = sorted(spread, key=lambda c: -spread[c][0])
    top, low = order[0], order[-1]
    d, lo_v, lo, hi_v, hi = spread[top]
    text = (f"On this panel the {_CHOICE_WORDS[top]} moves the median estimate most, from {lo:.4f} "
            f"({lo_v}) to {hi:.4f} ({hi_v})")
    if low != top:
        text += (f"; the {_CHOICE_WORDS[low]} moves it least ({spread[low][0]:.4f} between its "
                 "options)")
    return text + "."


def specifications_table(rows: pd.DataFrame):
    """Every specification: its choices, estimate, 95 % interval, N and any error, sorted by estimate."""
    from lib.present.tables import frame_table

    show = rows.sort_values("estimate", kind="stable", na_position="last").reset_index(drop=True)
    show.index = show.index + 1
    show.index.name = "rank"
    cols = [*CHOICES, "estimate", "std_error", "ci_low", "ci_high", "nobs", "error"]
    if "truth" in show and show["truth"].notna().any():
        cols.insert(cols.index("std_error") + 3, "truth")
    return frame_table(show[cols], title="Every specification, sorted by its estimate",
                       name="curve_specifications",
                       float_format={c: "{:.4f}" for c in ("estimate", "std_error", "ci_low", "ci_high",
                                                           "truth")},
                       collapse=[c for c in cols if c not in (*CHOICES, "estimate")],
                       collapse_title="More columns: s.e., 95 % interval, truth, N, error",
                       numbers=show[cols])

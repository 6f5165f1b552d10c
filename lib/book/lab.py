"""The estimator lab: every estimator of the book on many draws of its city generator.

Each draw is a semi-synthetic panel from :func:`lib.data.synthetic.simulate_city_panel`
under a named scenario (:data:`lib.data.synthetic.SCENARIOS`: real pilot dates, new
outcomes, a known truth). Every estimator in :data:`ESTIMATORS` runs on it, and each run
is one row of a :class:`lib.methods.registry.Registry`, keyed by scenario, parameters,
seed, estimator and library versions: a lab re-run with more draws computes only the new
ones, on one machine (joblib) or a Dask cluster. :func:`lab_summary` turns the rows into
mean bias, RMSE, coverage of the nominal 95 % interval and the pre-test's rejection rate,
each with its Monte-Carlo standard error.

This module knows the generator's column names (``Inno``, ``CBEC``, ``city_id``, ...);
the estimators it calls do not.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from lib import ROOT
from lib.methods.registry import Registry, key_seed, run_key, run_tasks, versions

__all__ = ["ESTIMATORS", "DEFAULT_REGISTRY", "SHIPPED_REGISTRY", "BASE_SEED", "LabRun",
           "lab_tasks", "run_lab", "draw_rows", "lab_summary", "summary_text", "lab_registry"]

#: The generator's own column names (lib.data.synthetic.PANEL_COLUMNS).
Y, D, UNIT, TIME, COHORT, EVER = "Inno", "CBEC", "city_id", "year", "adoption_year", "treated"
MEDIATOR = "Diginf"
#: Base seed of the lab's draws: draw r of scenario s is seeded by (s, BASE_SEED, r).
BASE_SEED = 20241123
#: The registry the book ships (read-only at build time) and the one new runs go to.
SHIPPED_REGISTRY = ROOT / "data" / "derived" / "lab" / "registry.parquet"
DEFAULT_REGISTRY = ROOT / "runs" / "lab" / "registry.parquet"
Z95 = 1.959963984540054
#: A long run stores its finished draws after this many rows or seconds, whichever comes first.
FLUSH_ROWS, FLUSH_SECONDS = 2000, 60.0


def lab_registry(path: str | Path | None = None) -> Registry:
    """The lab's registry: new runs go to ``path`` (default ``runs/lab/registry.parquet``),
    looked up there first and then in the registry shipped under ``data/derived/lab/``."""
    path = Path(path) if path else DEFAULT_REGISTRY
    shipped = () if path.resolve() == SHIPPED_REGISTRY.resolve() else (SHIPPED_REGISTRY,)
    return Registry(path, read_only=shipped)


# ------------------------------------------------------------------ estimators
def _controls() -> list[str]:
    from lib.data.synthetic import CONTROLS

    return list(CONTROLS)


def _ci(est: float, se: float) -> tuple[float, float]:
    return est - Z95 * se, est + Z95 * se


def _row(est, se, truth, *, nobs, ci=None, target=np.nan, pretest_p=np.nan) -> dict[str, Any]:
    lo, hi = ci if ci is not None else _ci(est, se)
    return {"estimate": float(est), "std_error": float(se), "ci_low": float(lo), "ci_high": float(hi),
            "truth": float(truth), "target": float(target), "pretest_p": float(pretest_p),
            "nobs": int(nobs)}


def _regression_row(res, truth, pretest_p=np.nan, target=np.nan) -> dict[str, Any]:
    c = res.coef(D)
    ci = res.conf_int().loc[D]
    return _row(c["estimate"], c["std_error"], truth, nobs=c["nobs"], ci=(ci.iloc[0], ci.iloc[1]),
                target=target, pretest_p=pretest_p)


def _twfe(panel, truth, *, controls: bool):
    from lib.methods.did import event_study, twfe

    ctrl = _controls() if controls else []
    vcov = {"CRV1": UNIT}
    res = twfe(panel, yname=Y, dname=D, idname=UNIT, tname=TIME, controls=ctrl, vcov=vcov)
    used = panel.dropna(subset=ctrl) if ctrl else panel
    target = twfe(used.assign(**{Y: used["true_effect"]}), yname=Y, dname=D, idname=UNIT, tname=TIME,
                  controls=ctrl, vcov=vcov).params[D]
    es = event_study(panel, yname=Y, idname=UNIT, tname=TIME, gname=COHORT, controls=ctrl, vcov=vcov,
                     band_draws=1, seed=0)
    return _regression_row(res, truth.att_on(used, unit=UNIT, time=TIME),
                           pretest_p=es.pretrend_test["p"], target=target)


def _cs(panel, truth, *, covariates: bool, control_group: str = "never_treated"):
    from lib.methods.staggered import callaway_santanna

    kw = dict(yname=Y, idname=UNIT, tname=TIME, gname=COHORT, control_group=control_group)
    if covariates:
        ctrl = _controls()
        cs = callaway_santanna(panel, controls=ctrl, estimation_method="dr", **kw)
        incomplete = panel.loc[panel[ctrl].isna().any(axis=1), UNIT].unique()
        used = panel[~panel[UNIT].isin(incomplete)]
    else:
        cs, used = callaway_santanna(panel, **kw), panel
    o = cs.aggregate("simple").overall
    return _row(o["estimate"], o["std_error"], truth.att_on(used, unit=UNIT, time=TIME),
                nobs=cs.nobs if covariates else len(panel), pretest_p=cs.pretest()["p"])


def _sun_abraham(panel, truth):
    from lib.methods.staggered import sun_abraham

    sa = sun_abraham(panel, yname=Y, idname=UNIT, tname=TIME, gname=COHORT)
    return _row(sa.att["estimate"], sa.att["std_error"], truth.att_on(panel, unit=UNIT, time=TIME),
                nobs=sa.nobs)


def _imputation(panel, truth):
    from lib.methods.staggered import imputation

    r = imputation(panel, yname=Y, idname=UNIT, tname=TIME, gname=COHORT, event_times=False)
    return _row(r.overall["estimate"], r.overall["std_error"], truth.att_on(panel, unit=UNIT, time=TIME),
                nobs=r.nobs, pretest_p=r.extra["pretrend_test"]["p_value"])


def _own_estimand(fn: Callable, panel: pd.DataFrame, **kw) -> tuple[Any, float]:
    """The estimator on the data and on the true effects: the second is what it estimates on
    this draw when parallel trends and no anticipation hold (every DID here is linear in y)."""
    r = fn(panel, yname=Y, idname=UNIT, tname=TIME, **kw)
    t = fn(panel.assign(**{Y: panel["true_effect"]}), yname=Y, idname=UNIT, tname=TIME, **kw)
    return r, t.overall["estimate"]


def _dcdh(panel, truth):
    from lib.methods.staggered import dcdh

    r, target = _own_estimand(dcdh, panel, dname=D)
    return _row(r.overall["estimate"], r.overall["std_error"], target, nobs=r.nobs, target=target)


def _stacked(panel, truth):
    from lib.methods.staggered import stacked

    r, target = _own_estimand(stacked, panel, gname=COHORT)
    return _row(r.overall["estimate"], r.overall["std_error"], target, nobs=r.nobs, target=target)


def _psm(panel, truth, *, method: str):
    from lib.methods import psm

    ctrl = _controls()
    score = panel.attrs.get("lab_score")   # one score serves both matchings of a draw
    if score is None:
        score = psm.propensity_score(panel, treatment=D, covariates=ctrl, outcome=Y, idname=UNIT,
                                     tname=TIME)
        panel.attrs["lab_score"] = score
    match = (psm.kernel_match(score, bandwidth=0.06) if method == "kernel"
             else psm.nn_match(score, k=5, ties="keep", seed=0))
    res = psm.psm_did(panel, match, yname=Y, dname=D, controls=ctrl, idname=UNIT, tname=TIME)
    used = panel.loc[res.extra["rows"]]
    return _regression_row(res, truth.att_on(used, unit=UNIT, time=TIME))


def _mediation(panel, truth):
    from lib.methods.mediation import three_step

    med = three_step(panel, yname=Y, dname=D, mediator=MEDIATOR, controls=_controls(),
                     vcov={"CRV1": UNIT}, idname=UNIT, tname=TIME)
    return _row(med.indirect, med.indirect_se, float(truth.indirect.loc[MEDIATOR, "indirect"]),
                nobs=med.nobs)


@dataclass(frozen=True)
class LabEstimator:
    """One estimator of the lab: how it runs, and what its bias is measured against."""

    name: str
    run: Callable[[pd.DataFrame, Any], dict]
    against: str
    pretest: str = ""


_ATT = "the ATT over the treated city-years it uses"
#: The lab's estimators, in the order tables show them.
ESTIMATORS: dict[str, LabEstimator] = {e.name: e for e in (
    LabEstimator("TWFE", lambda p, t: _twfe(p, t, controls=False), _ATT, "TWFE event-study leads"),
    LabEstimator("TWFE + controls", lambda p, t: _twfe(p, t, controls=True), _ATT,
                 "TWFE event-study leads"),
    LabEstimator("Callaway-Sant'Anna", lambda p, t: _cs(p, t, covariates=False), _ATT,
                 "CS event-time leads"),
    LabEstimator("Callaway-Sant'Anna + covariates", lambda p, t: _cs(p, t, covariates=True), _ATT,
                 "CS event-time leads"),
    LabEstimator("Callaway-Sant'Anna (not yet treated)",
                 lambda p, t: _cs(p, t, covariates=False, control_group="not_yet_treated"), _ATT,
                 "CS event-time leads"),
    LabEstimator("Sun-Abraham", _sun_abraham, _ATT),
    LabEstimator("Imputation (BJS)", _imputation, _ATT, "BJS pre-trend regression"),
    LabEstimator("dCDH", _dcdh, "its own estimand, the average DID_l over horizons 1-3"),
    LabEstimator("Stacked DID", _stacked, "its own estimand, the trimmed aggregate ATT"),
    LabEstimator("PSM-DID (kernel)", lambda p, t: _psm(p, t, method="kernel"), _ATT),
    LabEstimator("PSM-DID (5 nearest)", lambda p, t: _psm(p, t, method="nn"), _ATT),
    LabEstimator("Indirect effect (Diginf)", _mediation, "the true indirect effect a·b through Diginf"),
)}


# ------------------------------------------------------------------------ runs
@dataclass(frozen=True)
class LabTask:
    """One draw to compute: the scenario, its replication number and the estimators missing."""

    scenario: str
    rep: int
    estimators: tuple[str, ...]


def _scenario_params(name: str) -> dict:
    from lib.data.synthetic import SCENARIOS

    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(SCENARIOS[name].params).items()}


def draw_seed(scenario: str, rep: int, base_seed: int = BASE_SEED) -> int:
    """The seed of draw ``rep`` of ``scenario``: fixed by the two, never by a worker."""
    return key_seed("lab", scenario, base_seed, rep)


def _keys(scenario: str, rep: int, estimators: Sequence[str], version: str) -> dict[str, str]:
    params = _scenario_params(scenario)
    seed = draw_seed(scenario, rep)
    return {e: run_key(source=f"scenario:{scenario}", params=params, seed=seed, estimator=e,
                       version=version) for e in estimators}


def draw_rows(task: LabTask) -> list[dict[str, Any]]:
    """Draw one panel of ``task.scenario`` and run the missing estimators on it: registry rows.

    A draw the generator rejects, or an estimator that fails on it, gives a row with the
    error message and NaN numbers: counted in the summary, never dropped.
    """
    from lib.data import synthetic
    from lib.methods.staggered import with_true_effects

    version = versions()
    params = _scenario_params(task.scenario)
    seed = draw_seed(task.scenario, task.rep)
    keys = _keys(task.scenario, task.rep, task.estimators, version)
    base = {"source": f"scenario:{task.scenario}", "params": _canonical(params), "seed": seed,
            "version": version}
    empty = dict(estimate=np.nan, std_error=np.nan, ci_low=np.nan, ci_high=np.nan, truth=np.nan,
                 target=np.nan, pretest_p=np.nan, nobs=0)
    try:
        panel, truth = synthetic.simulate_city_panel(_facts().copy(), params=synthetic.SCENARIOS[
            task.scenario].params, seed=seed)
    except ValueError as err:
        return [{**base, "key": keys[e], "estimator": e, **empty, "error": f"generator: {err}"}
                for e in task.estimators]
    # the true effect of the treatment as coded (CBEC == 1): anticipation rows are not in it
    eff = truth.effects.assign(tau=truth.effects["tau"] * truth.effects["CBEC"])
    panel = with_true_effects(panel, eff, idname=UNIT, tname=TIME)
    panel[COHORT] = panel[COHORT].astype(float)
    rows = []
    for e in task.estimators:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values, error = ESTIMATORS[e].run(panel, truth), ""
        except Exception as err:  # noqa: BLE001 - recorded in the row and counted
            values, error = empty, f"{type(err).__name__}: {err}"
        rows.append({**base, "key": keys[e], "estimator": e, **values, "error": error})
    return rows


@functools.lru_cache(maxsize=1)
def _facts() -> pd.DataFrame:
    """The cities, provinces and pilot dates every draw starts from (read once per process:
    reading the shipped facts was a fifth of a TWFE-only draw)."""
    from lib.data.facts import sample_frame

    return sample_frame()


def _canonical(params) -> str:
    from lib.methods.registry import canonical

    return canonical(params)


@dataclass
class LabRun:
    """What :func:`run_lab` did: the rows of the requested runs and how many it computed."""

    rows: pd.DataFrame
    computed: int
    requested: int
    registry: Path


def lab_tasks(scenarios: Sequence[str], reps: int, estimators: Sequence[str],
              registry: Registry) -> tuple[list[LabTask], list[str]]:
    """The draws that still lack a run, and every requested key."""
    version = versions()
    tasks, wanted = [], []
    have = set(registry.rows()["key"])
    for s in scenarios:
        for r in range(reps):
            keys = _keys(s, r, estimators, version)
            wanted += list(keys.values())
            todo = tuple(e for e in estimators if keys[e] not in have)
            if todo:
                tasks.append(LabTask(s, r, todo))
    return tasks, wanted


def run_lab(scenarios: Sequence[str], reps: int, *, estimators: Sequence[str] | None = None,
            registry: Registry | str | Path | None = None, workers: int = 1, scheduler: Any = None,
            progress: bool = False) -> LabRun:
    """Draw ``reps`` panels of each scenario and run ``estimators`` (default: all) on each.

    Only the runs the registry lacks are computed (on ``workers`` processes or a Dask
    ``scheduler``) and stored; the result holds every requested run, sorted by scenario,
    replication and estimator.
    """
    if reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps}")
    estimators = list(estimators or ESTIMATORS)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; choose from {', '.join(ESTIMATORS)}")
    for s in scenarios:
        _scenario_params(s)
    reg = registry if isinstance(registry, Registry) else lab_registry(registry)
    tasks, wanted = lab_tasks(scenarios, reps, estimators, reg)
    computed = 0
    if tasks:
        # store finished draws as they come, so an interrupted long run keeps its work; the
        # registry is sorted by key, so its bytes do not depend on when the stores happened
        pending: list[dict] = []
        clock = [time.monotonic()]

        def store(force: bool = False) -> None:
            nonlocal computed
            if pending and (force or len(pending) >= FLUSH_ROWS or time.monotonic() - clock[0] > FLUSH_SECONDS):
                computed += reg.add(pd.DataFrame(pending))
                pending.clear()
                clock[0] = time.monotonic()

        def collect(i: int, rows: list[dict]) -> None:
            pending.extend(rows)
            store()

        try:
            run_tasks(draw_rows, tasks, workers=workers, scheduler=scheduler, progress=progress,
                      desc="lab draws", on_result=collect)
        finally:
            store(force=True)
    rows = reg.get(wanted)
    rows = _annotate(rows)
    missing = len(wanted) - len(rows)
    if missing:
        raise RuntimeError(f"run_lab: {missing} requested runs are not in {reg.path} after computing")
    return LabRun(rows=rows, computed=computed, requested=len(wanted), registry=reg.path)


def _annotate(rows: pd.DataFrame) -> pd.DataFrame:
    """Scenario and replication beside each row (from its source and seed), in a fixed order."""
    out = rows.copy()
    out["scenario"] = out["source"].str.removeprefix("scenario:").astype(str)
    order = {e: i for i, e in enumerate(ESTIMATORS)}
    out["_e"] = out["estimator"].map(order)
    return out.sort_values(["scenario", "seed", "_e"], kind="stable").drop(columns="_e").reset_index(drop=True)


# ------------------------------------------------------------------ summaries
def lab_summary(rows: pd.DataFrame, *, level: float = 0.05) -> pd.DataFrame:
    """Per scenario × estimator: draws, failures, mean bias, RMSE, coverage of the 95 %
    interval and the pre-test's rejection rate at ``level``, each with its Monte-Carlo s.e.

    MC s.e.: bias s.d./√R; RMSE by the delta method, s.d.(err²)/(2·RMSE·√R); a rate p,
    √(p(1−p)/R). The estimand gap is the mean of (own estimand − ATT) where the estimator's
    own estimand was computed (TWFE: its weighted average of the true effects).
    """
    out = []
    for (scen, est), g in rows.groupby(["scenario", "estimator"], sort=False):
        ok = g[(g["error"] == "") & g["estimate"].notna() & g["truth"].notna()]
        R = len(ok)
        err = ok["estimate"] - ok["truth"]
        rec = {"scenario": scen, "estimator": est, "draws": R, "failed": int(len(g) - R)}
        if R:
            mse = float((err ** 2).mean())
            rmse = np.sqrt(mse)
            cover = ((ok["ci_low"] <= ok["truth"]) & (ok["truth"] <= ok["ci_high"])).astype(float)
            pre = ok["pretest_p"].dropna()
            rej = (pre < level).astype(float)
            sd = err.std(ddof=1) if R > 1 else np.nan
            rec.update({
                "truth": float(ok["truth"].mean()), "mean_estimate": float(ok["estimate"].mean()),
                "bias": float(err.mean()), "bias_mcse": sd / np.sqrt(R),
                "rmse": rmse, "rmse_mcse": ((err ** 2).std(ddof=1) / (2 * rmse * np.sqrt(R))
                                            if R > 1 and rmse > 0 else np.nan),
                "coverage": float(cover.mean()), "coverage_mcse": np.sqrt(cover.mean() * (1 - cover.mean()) / R),
                "pretest_rejects": float(rej.mean()) if len(pre) else np.nan,
                "pretest_mcse": np.sqrt(rej.mean() * (1 - rej.mean()) / len(pre)) if len(pre) else np.nan,
                "estimand_gap": float((ok["target"] - ok["truth"]).mean()) if ok["target"].notna().all()
                else np.nan,
            })
        out.append(rec)
    cols = ["scenario", "estimator", "draws", "failed", "truth", "mean_estimate", "bias", "bias_mcse",
            "rmse", "rmse_mcse", "coverage", "coverage_mcse", "pretest_rejects", "pretest_mcse",
            "estimand_gap"]
    return pd.DataFrame(out).reindex(columns=cols)


def summary_text(summary: pd.DataFrame) -> str:
    """The summary as a plain-text table for the command line (numbers to 4 significant digits)."""
    cols = ["scenario", "estimator", "draws", "failed", "bias", "bias_mcse", "rmse", "coverage",
            "coverage_mcse", "pretest_rejects"]
    show = summary[cols].copy()
    for c in cols[4:]:
        show[c] = show[c].map(lambda v: "—" if pd.isna(v) else f"{v:.4g}")
    return show.to_string(index=False)

"""The book's simulation experiments on fresh draws of its city generator.

Each draws semi-synthetic panels with :func:`lib.data.synthetic.simulate_city_panel`
(real pilot dates, new outcomes) and runs estimators of :mod:`lib.methods` on
them, so it knows the generator's column names; the estimators themselves do not.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from lib.methods.mediation import three_step
from lib.methods.staggered import _twfe_balanced, _wide_panel, callaway_santanna, with_true_effects

__all__ = ["simulation_study", "lab_simulation", "plot_simulation", "seed_paths", "simulation_values", "record_simulation"]


def simulation_study(reps: int, *, seed: int, frame: pd.DataFrame | None = None, params=None,
                     max_failed_share: float = 0.05) -> pd.DataFrame:
    """Sampling distribution of TWFE and Callaway-Sant'Anna on fresh draws of the book's DGP.

    Each replication draws a semi-synthetic panel with
    :func:`lib.data.synthetic.simulate_city_panel` (real pilot dates, new
    outcomes; seeds from ``numpy.random.default_rng(seed)``) and records the
    TWFE coefficient (no controls), the Callaway-Sant'Anna simple ATT with
    never-treated and with not-yet-treated controls (on these data the
    Sun-Abraham ATT equals the first), the draw's true ATT, and the TWFE
    target (TWFE on the true effects).

    Returns
    -------
    DataFrame
        One row per completed replication: ``seed``, ``truth``,
        ``twfe_target``, ``TWFE``, ``CS never``, ``CS not yet``.
        ``attrs["failed"]`` lists ``(seed, message)`` of draws the generator
        could not complete (a ``ValueError`` inside
        :func:`lib.data.synthetic.simulate_city_panel`); they are left out and
        counted, never hidden. A larger share than ``max_failed_share``
        raises.
    """
    from lib.data import synthetic
    from lib.data.facts import sample_frame

    if reps < 1:
        raise ValueError(f"simulation_study: reps must be a positive integer, got {reps}")
    frame = sample_frame() if frame is None else frame
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=reps)
    # the generator's own column names (lib.data.synthetic.PANEL_COLUMNS)
    yname, idname, tname, gname = "Inno", "city_id", "year", "adoption_year"
    kw = dict(idname=idname, tname=tname, gname=gname)
    rows, failed = [], []
    for s in seeds:
        try:
            panel, truth = synthetic.simulate_city_panel(frame, params=params, seed=int(s))
        except ValueError as err:  # a draw the generator rejects; counted below
            failed.append((int(s), str(err)))
            continue
        panel = with_true_effects(panel, truth.effects, idname=idname, tname=tname)
        w = _wide_panel(panel, yname=yname, fn="simulation_study", **kw)
        wt = _wide_panel(panel, yname="true_effect", fn="simulation_study", **kw)
        D = (w.periods[None, :] >= w.G[:, None]).astype(float)
        row = {"seed": int(s), "truth": truth.att_on(panel, unit=idname, time=tname),
               "twfe_target": _twfe_balanced(wt.Y, D)[0], "TWFE": _twfe_balanced(w.Y, D)[0]}
        for cg, label in (("never_treated", "CS never"), ("not_yet_treated", "CS not yet")):
            cs = callaway_santanna(panel, yname=yname, control_group=cg, **kw)
            row[label] = cs.aggregate("simple").overall["estimate"]
        rows.append(row)
    if len(failed) > max_failed_share * reps:
        raise RuntimeError(f"simulation_study: the generator failed on {len(failed)} of {reps} draws "
                           f"(first: seed {failed[0][0]}: {failed[0][1]})")
    out = pd.DataFrame(rows, columns=["seed", "truth", "twfe_target", "TWFE", "CS never", "CS not yet"])
    out.attrs["failed"] = failed
    return out


#: The lab's estimators behind :func:`lab_simulation`'s columns.
LAB_COLUMNS = {"TWFE": "TWFE", "Callaway-Sant'Anna": "CS never",
               "Callaway-Sant'Anna (not yet treated)": "CS not yet"}


def lab_simulation(reps: int, *, registry: Any = None, workers: int = 1) -> pd.DataFrame:
    """:func:`simulation_study`'s table from the estimator lab's first ``reps`` draws of the
    ``dynamic`` scenario (the shipped panel's process), read from the results registry where it
    holds them (:func:`lib.book.lab.run_lab`).

    Columns ``seed``, ``truth``, ``twfe_target``, ``TWFE``, ``CS never``, ``CS not yet``; a draw
    with any failed run is left out and listed in ``attrs["failed"]`` as ``(seed, error)``.
    """
    from lib.book import lab

    rows = lab.run_lab(["dynamic"], reps, estimators=list(LAB_COLUMNS), registry=registry,
                       workers=workers).rows
    bad = rows.loc[rows["error"] != ""].groupby("seed")["error"].first()
    ok = rows[~rows["seed"].isin(bad.index)]
    wide = ok.pivot(index="seed", columns="estimator", values="estimate").rename(columns=LAB_COLUMNS)
    tw = ok[ok["estimator"] == "TWFE"].set_index("seed")
    out = pd.DataFrame({"truth": tw["truth"], "twfe_target": tw["target"]}).join(wide)
    out = out.reset_index()[["seed", "truth", "twfe_target", "TWFE", "CS never", "CS not yet"]]
    out.attrs["failed"] = [(int(s), e) for s, e in bad.items()]
    return out


def plot_simulation(sim: pd.DataFrame, ax: Any = None,
                    estimators: Sequence[str] = ("TWFE", "CS never", "CS not yet")) -> Any:
    """Box plots of estimate minus the draw's true ATT, by estimator, with the mean marked."""
    from lib.present.figures import PALETTE, new_axes

    fig, ax = new_axes(ax)
    errs = [sim[e] - sim["truth"] for e in estimators]
    ax.boxplot(errs, vert=False, widths=0.5, showfliers=False,
               medianprops={"color": PALETTE["book"]})
    for j, e in enumerate(errs, start=1):
        ax.scatter(e, np.full(len(e), j) + np.random.default_rng(j).uniform(-0.12, 0.12, len(e)),
                   s=8, color=PALETTE["book"], alpha=0.35, zorder=3)
        ax.scatter([e.mean()], [j], marker="D", s=52, color=PALETTE["highlight"], zorder=4,
                   label="mean error" if j == 1 else None)
    tb = (sim["twfe_target"] - sim["truth"]).mean()
    ax.axvline(0, color=PALETTE["truth"], lw=1.2, ls=":", label="truth (error 0)")
    ax.axvline(tb, color=PALETTE["reference"], lw=1.1, ls="--", label=f"TWFE target − truth ({tb:.4f})")
    ax.set_yticks(range(1, len(estimators) + 1))
    ax.set_yticklabels(list(estimators))
    ax.set_xlabel("Estimate − true ATT of the draw")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def seed_paths(seeds: Sequence[int], mediators: Sequence[str], *, params: Any = None,
               vcov: dict[str, str] | str | None = None) -> pd.DataFrame:
    """:func:`three_step` (no bootstrap) on fresh semi-synthetic draws, one row per seed and mediator.

    Each seed draws ``lib.data.synthetic.simulate_city_panel(params=params, seed=seed)``
    on the book's city frame (``params=None``: the default generator) and
    validates it as the book does; the controls are the panel's. Columns:
    ``a``, ``se_a``, ``b``, ``se_b``, the truths ``a_truth``, ``b_truth`` and
    ``a_gap_se``, ``b_gap_se`` (estimate minus truth, in s.e.).
    """
    from lib import data as data_mod
    from lib.data import synthetic
    from lib.data.facts import sample_frame

    yname, dname = "Inno", "CBEC"  # the generator's own column names
    vcov = {"CRV1": "city_id"} if vcov is None else vcov
    frame = sample_frame()
    rows = []
    for s in seeds:
        raw, truth = synthetic.simulate_city_panel(frame, params=params, seed=int(s))
        panel = data_mod.validate_panel(raw, source=f"<semi-synthetic panel, seed {s}>")
        for m in mediators:
            med = three_step(panel.data, yname=yname, dname=dname, mediator=m,
                             controls=list(panel.spec.controls), vcov=vcov, idname="city_id", tname="year")
            a_t, b_t = float(truth.indirect.loc[m, "a"]), float(truth.indirect.loc[m, "b"])
            rows.append({"seed": int(s), "mediator": m, "a": med.a, "se_a": med.se_a,
                         "b": med.b, "se_b": med.se_b, "a_truth": a_t, "b_truth": b_t,
                         "a_gap_se": (med.a - a_t) / med.se_a, "b_gap_se": (med.b - b_t) / med.se_b})
    return pd.DataFrame(rows).set_index(["seed", "mediator"])


def simulation_values(sim: pd.DataFrame, *, reps: int, synthetic: bool) -> dict[str, Any]:
    """What the staggered chapter's simulation section cites (keys ``sim_*``): mean error and its
    simulation s.e. per estimator, the spread, and the words that depend on them.

    ``synthetic`` says whether the *chapter* runs on the book's data; the simulation itself
    always draws the book's generator, so its truth is known either way.
    """
    err = sim[["TWFE", "CS never", "CS not yet"]].sub(sim["truth"], axis=0)
    n, failed = len(sim), len(sim.attrs.get("failed", []))
    mc_se = err.std() / np.sqrt(n)
    cs_z = abs(err["CS never"].mean()) / mc_se["CS never"]
    return {
        "sim_reps": n,
        "sim_failed": (f"Draws that failed inside the data generator and are left out: {failed} of {reps}."
                       if failed else f"All {reps} draws completed."),
        "sim_twfe_bias": err["TWFE"].mean(), "sim_twfe_bias_se": mc_se["TWFE"],
        "sim_cs_bias": err["CS never"].mean(), "sim_cs_bias_se": mc_se["CS never"],
        "sim_twfe_sd": err["TWFE"].std(), "sim_cs_sd": err["CS never"].std(),
        "sim_cs_zero": "indistinguishable from zero" if cs_z < 1.96 else "distinguishable from zero",
        "sim_bias_vs_noise": "small" if abs(err["TWFE"].mean()) < err["CS never"].std() else "large",
        "sim_panel_note": ("which is why the single panel above could favour it; " if synthetic else
                           "(the simulation always draws the book's semi-synthetic panels, whatever "
                           "data the chapter runs on); "),
    }


def record_simulation(sim: pd.DataFrame) -> None:
    """Record each estimator's mean error over the draws (its target is 0: the truth is known)."""
    from lib.book.chapter import record

    err = sim[["TWFE", "CS never", "CS not yet"]].sub(sim["truth"], axis=0)
    for col in err:
        record(f"simulation mean error {col}", estimate=err[col].mean(),
               std_error=err[col].std() / np.sqrt(len(sim)), nobs=len(sim), truth=0.0)

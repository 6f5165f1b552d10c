"""Benchmark: 1,000 placebo draws, vectorised (lib.methods.did.placebo_test) vs per-draw loops.

Run: ``.venv/bin/python benchmarks/placebo.py [--draws 1000] [--repeats 3]``.

All three compute the same 1,000 pseudo-treatment regressions of the paper's
baseline TWFE (Inno on the pseudo-treatment and the eight controls, city and
year effects, CRV1 s.e. by city) on the book's default panel, with setup
included (model frame, index, design):

* ``vectorised`` -- ``lib.methods.did.placebo_test`` (one Frisch-Waugh-Lovell pass,
  the actual estimate and the draws of the assignments included);
* ``linearmodels`` -- a lean loop of ``PanelOLS(...).fit(cov_type="clustered")``,
  one per draw (the panel index built once);
* ``pyfixest`` -- a loop of ``pyfixest.feols(..., vcov={"CRV1": "city_id"})``.

BLAS, OpenMP and numba run single-threaded (set below, before numpy is
imported). The vectorised time is the median of ``--repeats`` runs after one
warm-up; each loop's time is the median of ``--loop-repeats`` runs over all
draws (about a minute each). The last line prints the headline ratio against
the linearmodels loop.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lib.data import load_panel, synthetic  # noqa: E402
from lib.methods import did  # noqa: E402

CONTROLS = list(synthetic.CONTROLS)


def fake_treatment(year: np.ndarray, city: pd.Series, units: np.ndarray, years: np.ndarray):
    return (year >= city.map(pd.Series(years, index=units)).to_numpy()).astype(float)


def loop_linearmodels(data: pd.DataFrame, A: np.ndarray, units: np.ndarray) -> np.ndarray:
    from linearmodels import PanelOLS

    f = data.dropna(subset=["Inno", *CONTROLS]).sort_values(["city_id", "year"])
    p = f.set_index(["city_id", "year"])
    y, year, city = p["Inno"], f["year"].to_numpy(), f["city_id"]
    out = np.empty(len(A))
    for b, row in enumerate(A):
        X = p[CONTROLS].copy()
        X.insert(0, "fake", fake_treatment(year, city, units, row))
        res = PanelOLS(y, X, entity_effects=True, time_effects=True).fit(
            cov_type="clustered", cluster_entity=True)
        out[b] = res.params["fake"]
    return out


def loop_pyfixest(data: pd.DataFrame, A: np.ndarray, units: np.ndarray) -> np.ndarray:
    import pyfixest as pf

    f = data.dropna(subset=["Inno", *CONTROLS]).sort_values(["city_id", "year"]).copy()
    fml = "Inno ~ fake + " + " + ".join(CONTROLS) + " | city_id + year"
    year, city = f["year"].to_numpy(), f["city_id"]
    out = np.empty(len(A))
    for b, row in enumerate(A):
        f["fake"] = fake_treatment(year, city, units, row)
        out[b] = pf.feols(fml, f, vcov={"CRV1": "city_id"}).coef()["fake"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-repeats", type=int, default=3,
                    help="runs of each per-draw loop (median); about a minute each")
    ap.add_argument("--seed", type=int, default=20241123)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    data = load_panel().data
    kw = dict(yname="Inno", dname="CBEC", idname="city_id", tname="year", gname="adoption_year",
              controls=CONTROLS, n_draws=args.draws, seed=args.seed, vcov={"CRV1": "city_id"})

    import pyfixest  # noqa: F401  (import and numba compilation outside the timings)
    import linearmodels  # noqa: F401

    res = did.placebo_test(data, **kw)                       # warm-up
    loop_pyfixest(data, res.assignments[:2], res.units)      # warm-up (numba JIT)
    loop_linearmodels(data, res.assignments[:2], res.units)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = did.placebo_test(data, **kw)
        times.append(time.perf_counter() - t0)
    t_vec = statistics.median(times)

    def timed_loop(loop):
        runs, out = [], None
        for _ in range(args.loop_repeats):
            t0 = time.perf_counter()
            out = loop(data, res.assignments, res.units)
            runs.append(time.perf_counter() - t0)
        return statistics.median(runs), out, runs

    t_lm, b_lm, lm_runs = timed_loop(loop_linearmodels)
    t_pf, b_pf, pf_runs = timed_loop(loop_pyfixest)

    print(f"placebo test: {args.draws:,} draws, N = {res.nobs:,}, 9 regressors, city and year "
          f"effects, CRV1 by city; single-threaded (OPENBLAS/OMP/MKL/NUMBA_NUM_THREADS=1)")
    print(f"{'method':<34}{'seconds':>10}{'per draw (ms)':>15}{'ratio':>9}{'max |diff b|':>15}")
    rows = [("vectorised FWL (lib.methods.did)", t_vec, 1.0, 0.0),
            ("linearmodels PanelOLS loop", t_lm, t_lm / t_vec,
             float(np.abs(b_lm - res.coefficients).max())),
            ("pyfixest feols loop", t_pf, t_pf / t_vec,
             float(np.abs(b_pf - res.coefficients).max()))]
    for name, t, r, d in rows:
        print(f"{name:<34}{t:>10.3f}{1000 * t / args.draws:>15.3f}{r:>8.0f}x{d:>15.1e}")
    print(f"vectorised runs (s): {', '.join(f'{t:.3f}' for t in times)} (median of {args.repeats}); "
          f"linearmodels loop runs: {', '.join(f'{t:.1f}' for t in lm_runs)}; pyfixest loop runs: "
          f"{', '.join(f'{t:.1f}' for t in pf_runs)}; targets: >= 500x linearmodels, >= 200x pyfixest")
    print(f"headline: vectorised is {t_lm / t_vec:.0f}x faster than the per-draw linearmodels "
          f"loop ({t_pf / t_vec:.0f}x vs pyfixest) for {args.draws:,} draws")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

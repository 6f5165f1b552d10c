"""Benchmark: the cluster bootstrap of one mediator's indirect effect a·b.

Compares, on the book's default panel (mediator Diginf, eight controls, city
and year effects, N = 3,292):

* ``lib.methods.mediation.bootstrap_paths`` -- 1,000 replications, vectorised across
  replications (city frequency weights; per-city cross-products; one matrix
  product and batched solves), median of 3 runs;
* the reference: a per-replication loop that builds each resample (cities
  drawn with replacement, relabelled) and fits the two fixed-effects
  regressions of eqs. 9 and 10 with linearmodels ``PanelOLS`` (city and year
  effects). The loop is timed on ``LOOP_REPS`` replications and scaled to 1,000;
  its estimates are checked against the vectorised ones on the same draws.

Everything runs single-threaded (OPENBLAS/MKL/OMP threads set to 1 before
numpy is imported). Run: ``.venv/bin/python benchmarks/mediation_bootstrap.py [REPS [LOOP_REPS]]``.
The last line is the headline ratio (loop time / vectorised time, 1,000 reps).
"""

import os

for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lib.methods import mediation# noqa: E402
from lib.data import load_panel  # noqa: E402
from lib.methods.did import _drop_singletons, _model_frame  # noqa: E402

REPS = 1000
LOOP_REPS = 20
MEDIATOR = "Diginf"


def main(reps: int = REPS, loop_reps: int = LOOP_REPS) -> None:
    import linearmodels
    from linearmodels import PanelOLS

    panel = load_panel()
    controls = list(panel.spec.controls)
    needed = ["Inno", "CBEC", MEDIATOR, *controls, "city_id", "year"]
    frame, _ = _model_frame(panel.data, needed)
    frame, _ = _drop_singletons(frame, "city_id", "year")
    frame = frame.sort_values(["city_id", "year"]).reset_index(drop=True)
    levels = np.sort(frame["city_id"].unique())
    draws = mediation.cluster_draws(len(levels), reps, seed=20241123)
    kw = dict(yname="Inno", dname="CBEC", mediator=MEDIATOR, idname="city_id", tname="year",
              controls=controls)

    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        vec = mediation.bootstrap_paths(frame, draws=draws, **kw)
        times.append(time.perf_counter() - t0)
    t_vec = float(np.median(times))

    t0 = time.perf_counter()
    full = mediation.three_step(panel.data, yname="Inno", dname="CBEC", mediator=MEDIATOR,
                                controls=controls, vcov={"CRV1": "city_id"},
                                bootstrap_reps=reps, seed=20241123, idname="city_id", tname="year")
    t_three = time.perf_counter() - t0

    groups = dict(tuple(frame.groupby("city_id")))
    loop = []
    t0 = time.perf_counter()
    for r in range(loop_reps):
        parts = []
        for j, c in enumerate(draws[r]):
            g = groups[levels[c]].copy()
            g["boot_id"] = j
            parts.append(g)
        bs = pd.concat(parts, ignore_index=True).set_index(["boot_id", "year"])
        fa = PanelOLS(bs[MEDIATOR], bs[["CBEC", *controls]], entity_effects=True,
                      time_effects=True).fit()
        fb = PanelOLS(bs["Inno"], bs[["CBEC", MEDIATOR, *controls]], entity_effects=True,
                      time_effects=True).fit()
        loop.append((fa.params["CBEC"], fb.params[MEDIATOR]))
    t_loop_per = (time.perf_counter() - t0) / loop_reps
    t_loop = t_loop_per * reps
    loop = np.array(loop)
    err = float(np.max(np.abs(np.column_stack([vec["a"][:loop_reps], vec["b"][:loop_reps]])
                              / loop - 1)))

    print(f"mediation bootstrap benchmark: mediator {MEDIATOR}, N = {len(frame):,} city-years, "
          f"{len(levels)} cities, {len(controls)} controls, city + year FE")
    print(f"single-threaded (OPENBLAS/MKL/OMP_NUM_THREADS=1); numpy {np.__version__}, "
          f"linearmodels {linearmodels.__version__}")
    print(f"{'method':<58}{'reps':>6}{'seconds':>12}")
    print(f"{'lib.methods.mediation.bootstrap_paths (vectorised, median of 3)':<58}{reps:>6}{t_vec:>12.4f}")
    print(f"{'lib.methods.mediation.three_step (3 linearmodels fits + bootstrap)':<58}{reps:>6}"
          f"{t_three:>12.4f}")
    print(f"{'loop of 2 linearmodels PanelOLS fits per rep (measured)':<58}{loop_reps:>6}"
          f"{t_loop_per * loop_reps:>12.4f}")
    print(f"{'loop of 2 linearmodels PanelOLS fits per rep (scaled)':<58}{reps:>6}{t_loop:>12.2f}")
    print(f"max relative difference of a, b (vectorised vs loop, {loop_reps} reps): {err:.2e}")
    print(f"indirect a·b = {full.indirect:.6f}, bootstrap 95% CI [{full.bootstrap_ci[0]:.6f}, "
          f"{full.bootstrap_ci[1]:.6f}]")
    print(f"speed-up vs a per-rep loop of two linearmodels PanelOLS regressions ({reps:,} reps): "
          f"{t_loop / t_vec:,.0f}x")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:3]))   # [REPS [LOOP_REPS]]: the tests run it small

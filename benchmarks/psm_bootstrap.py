"""Benchmark: the 500-rep city bootstrap of the kernel-matching ATT (lib.methods.psm).

Run: ``.venv/bin/python benchmarks/psm_bootstrap.py``

Compares, on the book's default panel (3,316 city-years, 280 cities):

* ``lib.methods.psm.bootstrap_att(..., reestimate_score=False)`` -- the book's default:
  score held at its full-sample estimate; all replications in one matrix
  product over the pairs within the bandwidth (``lib.methods.psm.kernel_att_city``);
* the reference: a per-rep NumPy loop doing the same thing (draw cities,
  dense (n_T x n_C) Epanechnikov kernel with multiplicity weights, ATT);
* the same pair with the score re-estimated in each replication: batched
  Newton probit for all replications (``lib.methods.psm.batched_binary_mle``) + prefix
  sums over sorted scores (``lib.methods.psm.kernel_att_sorted``), against a per-rep
  loop (one Newton probit per rep, warm-started, + the dense kernel).

All four give the same draws (checked below). Timed single-threaded
(OPENBLAS_NUM_THREADS=1 etc. set before NumPy is imported), median of 3 runs.
The LAST line is the headline: vectorised vs per-rep loop, fixed score.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy import special  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib import book  # noqa: E402
from lib.data.published import MATCHING_VARIABLES  # noqa: E402
from lib.methods import psm  # noqa: E402

REPS, SEED, H = 500, 20241123, 0.06


def loop_bootstrap(score, reestimate: bool) -> np.ndarray:
    """The reference: one replication at a time, dense kernel, plain NumPy."""
    f = score.frame
    t = score.treat
    y = f["Inno"].to_numpy(float)
    codes = np.unique(f["city_id"].to_numpy(), return_inverse=True)[1]
    M = psm.cluster_multiplicities(f["city_id"], REPS, SEED)
    X = np.column_stack([np.ones(len(f)), f[list(score.covariates)].to_numpy(float)])
    beta_hat = score.result.params.to_numpy()
    p_fix = f["_score"].to_numpy()
    out = np.full(REPS, np.nan)
    for b in range(REPS):
        m = M[b][codes]
        if reestimate:
            beta = beta_hat.copy()
            q = 2 * t - 1
            for _ in range(50):
                xb = X @ beta
                z = q * xb
                lam = q * np.exp(-0.5 * z * z - 0.5 * np.log(2 * np.pi) - special.log_ndtr(z))
                g = (m * lam) @ X
                H_ = (X * (m * lam * (lam + xb))[:, None]).T @ X
                step = np.linalg.solve(H_, g)
                beta += step
                if np.abs(step).max() < 1e-10 * (1 + np.abs(beta).max()):
                    break
            p = special.ndtr(X @ beta)
        else:
            p = p_fix
        pt, pc = p[t == 1], p[t == 0]
        mt, mc = m[t == 1], m[t == 0]
        drawn = mc > 0
        on = (mt > 0) & (pt >= pc[drawn].min()) & (pt <= pc[drawn].max())
        u = (pc[None, :] - pt[on][:, None]) / H
        K = np.where(np.abs(u) < 1, 0.75 * (1 - u * u), 0.0) * mc[None, :]
        den = K.sum(axis=1)
        ok = den > 1e-12
        gap = y[t == 1][on][ok] - (K[ok] @ y[t == 0]) / den[ok]
        w = mt[on][ok]
        out[b] = (w * gap).sum() / w.sum()
    return out


def timed(fn, runs: int = 3):
    times, res = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), res


def main() -> None:
    data = book.chapter_data()
    score = psm.propensity_score(data.frame, treatment="CBEC", covariates=MATCHING_VARIABLES,
                                 outcome="Inno", idname="city_id", tname="year")
    print(f"kernel-matching ATT, city bootstrap: {REPS} reps, {score.counts()['rows']:,} city-years, "
          f"280 cities; single-threaded (OPENBLAS/OMP/MKL_NUM_THREADS=1); median of 3 runs")
    rows = []
    for reest in (True, False):
        tv, draws_v = timed(lambda: psm.bootstrap_att(score, reps=REPS, seed=SEED,
                                                      reestimate_score=reest, progress=False).draws)
        tl, draws_l = timed(lambda: loop_bootstrap(score, reest))
        diff = float(np.nanmax(np.abs(draws_v - draws_l)))
        rows.append((reest, tv, tl, diff, float(np.nanstd(draws_v, ddof=1))))
    t_att, m = timed(lambda: psm.kernel_match(score, bootstrap_reps=REPS, seed=SEED, progress=False))
    print(f"{'score in each rep':<20}{'lib.methods.psm (s)':>14}{'per-rep loop (s)':>18}{'speed-up':>10}"
          f"{'max |draw diff|':>17}{'boot s.e.':>11}")
    for reest, tv, tl, diff, se in rows:
        print(f"{'re-estimated' if reest else 'fixed (default)':<20}{tv:>14.4f}{tl:>18.4f}"
              f"{tl / tv:>9.1f}x{diff:>17.1e}{se:>11.5f}")
    print(f"kernel_match(bootstrap_reps={REPS}) end to end (ATT + s.e., fixed score): "
          f"{t_att:.3f} s (median of 3); ATT = {m.att:.5f}, s.e. = {m.se:.5f}")
    tv, tl = rows[1][1], rows[1][2]
    print(f"headline: 500-rep kernel ATT cluster bootstrap (fixed score), lib.methods.psm vs per-rep "
          f"NumPy loop: {tl / tv:.1f}x faster")


if __name__ == "__main__":
    main()

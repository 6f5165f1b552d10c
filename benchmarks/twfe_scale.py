"""Benchmark: two-way FE DID at scale -- lib.methods.did.twfe vs pyfixest and linearmodels.

Run: ``.venv/bin/python benchmarks/twfe_scale.py [--rows 1000000] [--quick]``.

Model ``y ~ D + x1 + ... + x8 | unit + year``, CRV1 standard errors clustered by unit, on a
simulated long panel (``make_panel``: 10 years, a staggered binary treatment, eight
continuous controls, unit and year effects; numpy ``default_rng``, seeded), rows sorted by
unit and year as a reader's panel usually is. Compared, each called as a reader would on the
long DataFrame:

* ``lib`` -- ``lib.methods.did.twfe(df, yname="y", dname="D", controls=[...], idname="unit",
  tname="year", vcov={"CRV1": "unit"})``;
* ``pyfixest`` -- ``pyfixest.feols("y ~ D + x1 + ... + x8 | unit + year", df,
  vcov={"CRV1": "unit"})``, warm (a first call on a small panel compiles it);
* ``linearmodels`` -- ``PanelOLS(y, X, entity_effects=True, time_effects=True).fit(
  cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True)`` on
  ``df.set_index(["unit", "year"])`` (the ``set_index`` is timed; ``debiased`` and
  ``group_debias`` give the CRV1 factor G/(G-1)(N-1)/(N-K)).

Sections: the balanced panel (``--rows``, 100,000 units x 10 years by default), the same
panel with 10 % of unit-years removed at random, and a scaling table (10^4 to 10^7 rows;
linearmodels up to ``--lm-max-rows``). Coefficients and s.e. of D and the controls must agree
to 1e-8 relative: lib vs pyfixest (both K = k + T, the ``"nonnested"`` convention) and lib
vs linearmodels (lib refitted untimed with ``k_fixef="full"``, linearmodels' K = k + E + T - 1);
a larger discrepancy makes the script exit non-zero.

Each method runs in a fresh child process (``--child``) per panel: imports and a warm-up fit
on a 2,000-row panel, then the panel is built and timed runs follow (``time.perf_counter``,
best of ``--repeats``; fewer when the runs already took a minute). **Peak memory** is the
child's peak resident set during its first timed fit minus its resident set just before that
fit (after the imports, the warm-up, building the DataFrame, ``gc.collect()`` and
``malloc_trim``): the kernel's high-water mark is reset (``/proc/self/clear_refs``, 5) before
the fit and ``VmHWM`` read after it; it counts everything the method allocates, in NumPy,
pandas, numba or Rust, and the input frame not at all. BLAS, OpenMP, numba and Rayon run
single-threaded (set below, before numpy is imported, and inherited by the children). The
last line is the headline ratio at ``--rows``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

YEARS = 10
CONTROLS = [f"x{j}" for j in range(1, 9)]
TERMS = ["D", *CONTROLS]
METHODS = ("lib", "pyfixest", "linearmodels")
LABELS = {"lib": "lib.methods.did.twfe", "pyfixest": "pyfixest feols (warm)",
          "linearmodels": "linearmodels PanelOLS"}
TOL = 1e-8


# ------------------------------------------------------------------------------ data
def make_panel(rows: int, *, seed: int, unbalanced: bool = False) -> pd.DataFrame:
    """``rows // 10`` units x 10 years; ``unbalanced`` removes 10 % of the unit-years at random.

    Adoption year uniform on years 3-9 or never (a quarter of the units); controls correlated
    with the unit effect and the treatment; y = 0.5 D + x'b + unit effect + year effect + e.
    """
    rng = np.random.default_rng(seed)
    E = max(rows // YEARS, 2)
    n = E * YEARS
    unit = np.repeat(np.arange(E, dtype=np.int64), YEARS)
    year = np.tile(np.arange(2000, 2000 + YEARS, dtype=np.int64), E)
    alpha = rng.normal(size=E)
    gamma = np.linspace(0.0, 1.0, YEARS) ** 2
    adopt = np.where(rng.random(E) < 0.25, 9999, rng.integers(2003, 2000 + YEARS, E))
    D = (year >= adopt[unit]).astype(float)
    cols = {"unit": unit, "year": year, "D": D}
    y = 0.5 * D + alpha[unit] + gamma[year - 2000] + rng.normal(size=n)
    for j, b in enumerate(np.linspace(-0.4, 0.4, len(CONTROLS))):
        x = rng.normal(size=n) + 0.5 * alpha[unit] + 0.2 * (j % 3) * D
        y += b * x
        cols[CONTROLS[j]] = x
    cols["y"] = y
    df = pd.DataFrame(cols)
    if unbalanced:
        drop = rng.choice(n, size=n // 10, replace=False)
        keep = np.ones(n, dtype=bool)
        keep[drop] = False
        df = df.loc[keep].reset_index(drop=True)
    return df


# ---------------------------------------------------------------------------- methods
def fit_lib(df, k_fixef="nonnested"):
    from lib.methods import did

    res = did.twfe(df, yname="y", dname="D", controls=CONTROLS, idname="unit", tname="year",
                   vcov={"CRV1": "unit"}, k_fixef=k_fixef)
    return res.params[TERMS].to_numpy(), res.std_errors[TERMS].to_numpy()


def fit_pyfixest(df):
    import pyfixest as pf

    fit = pf.feols("y ~ " + " + ".join(TERMS) + " | unit + year", df, vcov={"CRV1": "unit"})
    return fit.coef()[TERMS].to_numpy(), fit.se()[TERMS].to_numpy()


def fit_linearmodels(df):
    from linearmodels import PanelOLS

    p = df.set_index(["unit", "year"])
    res = PanelOLS(p["y"], p[TERMS], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True)
    return res.params[TERMS].to_numpy(), res.std_errors[TERMS].to_numpy()


FITS = {"lib": fit_lib, "pyfixest": fit_pyfixest, "linearmodels": fit_linearmodels}


# ------------------------------------------------------------------------------ child
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _release_free_memory() -> None:
    gc.collect()
    try:  # hand glibc's free heap pages back, so the baseline is what is live
        import ctypes
        import ctypes.util

        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def child(method: str, rows: int, unbalanced: bool, seed: int, repeats: int, out: str) -> None:
    warnings.filterwarnings("ignore")
    fit = FITS[method]
    fit(make_panel(2_000, seed=seed + 1, unbalanced=unbalanced))  # imports, JIT, first-call costs
    df = make_panel(rows, seed=seed, unbalanced=unbalanced)
    _release_free_memory()
    base_kb = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS high-water mark to the current RSS
        how = "VmHWM"
    except OSError:  # no reset: ru_maxrss also holds the data-building peak (an upper bound)
        how = "ru_maxrss"
    t0 = time.perf_counter()
    params, se = fit(df)
    times = [time.perf_counter() - t0]
    if how == "VmHWM":
        peak_kb = _status_kb("VmHWM")
    else:
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    while len(times) < repeats and sum(times) < 60.0:
        t0 = time.perf_counter()
        fit(df)
        times.append(time.perf_counter() - t0)
    result = dict(method=method, rows=len(df), times=times, peak_mb=(peak_kb - base_kb) / 1024,
                  base_mb=base_kb / 1024, how=how, params=params.tolist(), se=se.tolist())
    if method == "lib":  # linearmodels' K convention, for its s.e. check (untimed)
        result["se_full"] = fit_lib(df, k_fixef="full")[1].tolist()
    Path(out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------- parent
def run_child(method: str, rows: int, unbalanced: bool, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method,
               "--child-rows", str(rows), "--seed", str(args.seed), "--repeats", str(args.repeats),
               "--out", str(out)] + (["--unbalanced"] if unbalanced else [])
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return dict(method=method, error=f"timed out after {args.timeout:.0f} s")
        if proc.returncode or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return dict(method=method, error=f"exit {proc.returncode}: {tail[0][:120]}")
        return json.loads(out.read_text())


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def discrepancies(res: dict) -> dict:
    """Max relative discrepancy of coefficients and s.e., lib against each reference."""
    out = {}
    lib = res.get("lib", {})
    if "params" not in lib:
        return out
    for ref, se_key in (("pyfixest", "se"), ("linearmodels", "se_full")):
        r = res.get(ref, {})
        if "params" in r:
            out[ref] = (_rel(r["params"], lib["params"]), _rel(r["se"], lib[se_key]))
    return out


def best(r: dict) -> float:
    return min(r["times"])


def _over(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def print_panel(title: str, res: dict) -> dict:
    print(title)
    lib = res["lib"]
    if "error" in lib:
        print(f"  {LABELS['lib']}: not run: {lib['error']}")
        return {}
    print(f"  {'method':<26}{'seconds':>9}{'runs':>6}{'time / lib':>12}{'peak MB':>10}"
          f"{'mem / lib':>11}{'us/row':>9}{'B/row':>8}")
    for m in METHODS:
        r = res.get(m)
        if r is None:
            continue
        if "error" in r:
            print(f"  {LABELS[m]:<26}  not run: {r['error']}")
            continue
        t = best(r)
        print(f"  {LABELS[m]:<26}{t:>9.3f}{len(r['times']):>6}{_over(t, best(lib)):>11.2f}x"
              f"{r['peak_mb']:>10.1f}{_over(r['peak_mb'], lib['peak_mb']):>10.2f}x"
              f"{1e6 * t / r['rows']:>9.3f}{r['peak_mb'] * 2**20 / r['rows']:>8.0f}")
    disc = discrepancies(res)
    for ref, (dc, ds) in disc.items():
        what = "s.e. vs lib k_fixef='full'" if ref == "linearmodels" else "s.e."
        print(f"  max relative discrepancy, lib vs {ref}: coefficients {dc:.1e}, {what} {ds:.1e}"
              f" (tolerance {TOL:.0e})")
    print(f"  rows {lib['rows']:,}; resident set of the lib child before its first timed fit "
          f"(interpreter, imports, input frame): {lib['base_mb']:.0f} MB")
    return disc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None,
                    help="rows of the headline panel (default 1,000,000; --quick 100,000)")
    ap.add_argument("--quick", action="store_true",
                    help="100,000-row panels and a 10^4-10^5 scaling table, for development")
    ap.add_argument("--sizes", default=None,
                    help="comma-separated rows of the scaling table (default 1e4,1e5,1e6,1e7)")
    ap.add_argument("--lm-max-rows", type=float, default=1e6,
                    help="largest panel linearmodels is run on in the scaling table")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20241123)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per child process")
    ap.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--unbalanced", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.child_rows, args.unbalanced, args.seed, args.repeats, args.out)
        return 0

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    sizes = [int(float(s)) for s in (args.sizes or ("1e4,1e5" if args.quick else "1e4,1e5,1e6,1e7")
                                     ).split(",")]
    import linearmodels
    import pyfixest

    import lib

    print(f"twfe at scale: y ~ D + x1..x8 | unit + year, CRV1 by unit; {YEARS} years, seed "
          f"{args.seed}; single-threaded (OPENBLAS/OMP/MKL/NUMBA/RAYON_NUM_THREADS=1); "
          f"numpy {np.__version__}, pandas {pd.__version__}, pyfixest {pyfixest.__version__}, "
          f"linearmodels {linearmodels.__version__}; lib from {Path(lib.__file__).parent}")
    print("time: best of up to --repeats runs after a warm-up fit on 2,000 rows (each method in "
          "its own child process); peak memory: peak RSS during the first timed fit minus the "
          "RSS just before it (input frame built), via a VmHWM reset")
    failures = []

    def panel(n, unbalanced, methods=METHODS):
        return {m: run_child(m, n, unbalanced, args) for m in methods}

    def check(name, disc, res):
        failures.extend(f"{name}: {LABELS[m]} not run ({r['error']})" for m, r in res.items()
                        if "error" in r)
        for ref, (dc, ds) in disc.items():
            if not (dc <= TOL and ds <= TOL):
                failures.append(f"{name}: lib vs {ref} coefficients {dc:.1e}, s.e. {ds:.1e}")

    E = max(rows // YEARS, 2)
    bal = panel(rows, False)
    check("balanced", print_panel(f"[1] balanced panel: {E:,} units x {YEARS} years", bal), bal)
    unb = panel(rows, True)
    check("unbalanced", print_panel(f"[2] unbalanced panel: the same with 10 % of unit-years "
                                    f"removed at random", unb), unb)

    print(f"[3] scaling, balanced panels (linearmodels up to {args.lm_max_rows:,.0f} rows)")
    print(f"  {'rows':>11}  {'method':<26}{'seconds':>9}{'runs':>6}{'us/row':>9}{'peak MB':>10}"
          f"{'B/row':>8}{'time / lib':>12}{'max rel diff':>14}")
    scaling = {}
    skipped = []
    for n in sizes:
        methods = [m for m in METHODS if m != "linearmodels" or n <= args.lm_max_rows]
        if "linearmodels" not in methods:
            skipped.append(n)
        res = {m: bal[m] for m in methods} if n == rows else panel(n, False, methods)
        scaling[n] = res
        disc = discrepancies(res)
        if n != rows:
            check(f"scaling {n:,}", disc, res)
        for m in methods:
            r = res[m]
            if "error" in r:
                print(f"  {n:>11,}  {LABELS[m]:<26}  not run: {r['error']}")
                continue
            t = best(r)
            d = "" if m == "lib" else f"{max(disc[m]):>14.1e}" if m in disc else ""
            ratio = (f"{_over(t, best(res['lib'])):>11.2f}x" if "times" in res["lib"]
                     else f"{'':>12}")
            print(f"  {n:>11,}  {LABELS[m]:<26}{t:>9.3f}{len(r['times']):>6}"
                  f"{1e6 * t / r['rows']:>9.3f}{r['peak_mb']:>10.1f}"
                  f"{r['peak_mb'] * 2**20 / r['rows']:>8.0f}{ratio}{d}")
    if skipped:
        print(f"  linearmodels not run at {', '.join(f'{n:,}' for n in skipped)} rows (time and "
              f"memory budget; --lm-max-rows raises it)")

    def ratio(res, a, b, key):
        ra, rb = res.get(a, {}), res.get(b, {})
        if key not in ra or key not in rb:
            return float("nan")
        va = best(ra) if key == "times" else ra[key]
        vb = best(rb) if key == "times" else rb[key]
        return _over(va, vb)

    r_pf = ratio(bal, "lib", "pyfixest", "times")
    r_lm = ratio(bal, "linearmodels", "lib", "times")
    r_mem = ratio(bal, "lib", "linearmodels", "peak_mb")
    r_unb = ratio(unb, "lib", "pyfixest", "times")
    print("targets:")
    for text, value, ok in (
            ("lib / warm pyfixest time, balanced (<= 1.0, stretch 0.7)", f"{r_pf:.2f}x",
             r_pf <= 1.0),
            ("linearmodels / lib time, balanced (>= 5)", f"{r_lm:.1f}x", r_lm >= 5),
            ("lib / linearmodels peak memory, balanced (<= 0.6)", f"{r_mem:.3f}x", r_mem <= 0.6),
            ("lib / warm pyfixest time, unbalanced (<= 1.2)", f"{r_unb:.2f}x", r_unb <= 1.2)):
        print(f"  {text:<58}{value:>9}  {'met' if ok else 'NOT MET'}")
    if failures:
        print("FAIL: " + "; ".join(failures), file=sys.stderr)
    print(f"headline: lib twfe / warm pyfixest at {rows:,} rows = {r_pf:.2f}× (target ≤ 1.0, "
          f"stretch 0.7)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tests of lib.methods.did.placebo_test (the paper's Fig. 2, section 4.3.1).

References and tolerances:

* every sampled draw's coefficient equals a per-draw linearmodels regression
  (``lib.methods.did.twfe``, i.e. ``PanelOLS`` with city and year effects) to 1e-10,
  and its CRV1 s.e. to 1e-8 (relative), on the default panel with controls
  (unbalanced: rows with missing controls dropped);
* ``lib.methods.panel.fe_ols_treatments`` (the library's generic FWL engine) for HC1
  and iid covariances;
* the assignment draws keep the real number of pilots and their years; a
  reader-supplied matrix reproduces a run exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lib.data import synthetic
from lib.methods import did, panel
from lib.data import load_panel

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

CONTROLS = list(synthetic.CONTROLS)


@pytest.fixture(scope="module")
def frame():
    return load_panel().data


@pytest.fixture(scope="module")
def placebo(frame):
    return did.placebo_test(frame, yname="Inno", controls=CONTROLS, n_draws=40, seed=3,
                            vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")


def _fake_treatment(frame, units, years):
    g = pd.Series(years, index=units)
    return (frame["year"] >= frame["city_id"].map(g)).astype(float)


def test_vectorised_draws_equal_per_draw_linearmodels(frame, placebo):
    for b in (0, 17, 39):
        d = frame.assign(fake=_fake_treatment(frame, placebo.units, placebo.assignments[b]))
        ref = did.twfe(d,
                       yname="Inno", dname="fake", controls=CONTROLS, vcov={"CRV1": "city_id"}, idname="city_id", tname="year")
        assert abs(placebo.coefficients[b] - ref.params["fake"]) < 1e-10
        np.testing.assert_allclose(placebo.std_errors[b], ref.std_errors["fake"], rtol=1e-8)
        np.testing.assert_allclose(placebo.pvalues[b], ref.pvalues["fake"], rtol=1e-7)


def test_actual_equals_twfe(frame, placebo):
    ref = did.twfe(frame,
                   yname="Inno", dname="CBEC", controls=CONTROLS, vcov={"CRV1": "city_id"}, idname="city_id", tname="year")
    np.testing.assert_allclose(placebo.actual.params, ref.params, atol=1e-10)
    np.testing.assert_allclose(placebo.actual.std_errors, ref.std_errors, rtol=1e-8)
    assert placebo.actual.nobs == ref.nobs == placebo.nobs
    assert placebo.actual.n_dropped == ref.n_dropped
    assert placebo.actual.drop_reasons == ref.drop_reasons


def test_ri_pvalue_and_pvalues_by_hand(placebo):
    b0 = placebo.actual.params["CBEC"]
    k = np.sum(np.abs(placebo.coefficients) >= abs(b0))
    assert placebo.ri_pvalue == (1 + k) / (placebo.n_draws + 1)
    assert placebo.n_as_large == k
    t0 = placebo.actual.tstats["CBEC"]
    assert placebo.ri_pvalue_t == (1 + np.sum(np.abs(placebo.tstats) >= abs(t0))) / (placebo.n_draws + 1)
    assert placebo.ri_pvalue >= 1 / (placebo.n_draws + 1)
    G = 280
    np.testing.assert_allclose(placebo.pvalues,
                               2 * stats.t.sf(np.abs(placebo.coefficients / placebo.std_errors),
                                              G - 1), rtol=1e-12)
    tidy = placebo.tidy()
    assert list(tidy.columns) == ["coefficient", "std_error", "t", "p"] and len(tidy) == 40


def test_assignments_keep_the_real_timing(frame, placebo):
    real = frame.groupby("city_id")["adoption_year"].first().reindex(placebo.units)
    real_years = np.sort(real.dropna().to_numpy())
    A = placebo.assignments
    assert A.shape == (40, 280)
    for row in A:
        np.testing.assert_array_equal(np.sort(row[np.isfinite(row)]), real_years)
    # different draws pick different cities
    assert len({tuple(np.isfinite(r)) for r in A}) == 40
    a1 = did.placebo_assignments(real, 5, seed=1)
    np.testing.assert_array_equal(a1, did.placebo_assignments(real, 5, seed=1))
    assert not np.array_equal(a1, did.placebo_assignments(real, 5, seed=2))


def test_reader_supplied_assignments_reproduce_the_run(frame, placebo):
    again = did.placebo_test(frame, yname="Inno", controls=CONTROLS,
                             assignments=placebo.assignments[:10], vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")
    # same draws, fewer columns: equal up to BLAS blocking (1e-18 here)
    np.testing.assert_allclose(again.coefficients, placebo.coefficients[:10], atol=1e-15)
    as_frame = pd.DataFrame(placebo.assignments[:10, ::-1], columns=placebo.units[::-1])
    again2 = did.placebo_test(frame, yname="Inno", controls=CONTROLS, assignments=as_frame,
                              vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")
    np.testing.assert_allclose(again2.coefficients, placebo.coefficients[:10], atol=1e-14)
    assert again.spec["assignments"] == "reader-supplied"
    with pytest.raises(ValueError, match=r"must be \(n_draws, 280\)"):
        did.placebo_test(frame, yname="Inno", assignments=np.zeros((3, 5)),
                         vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")
    with pytest.raises(KeyError, match="no column for 1 units"):
        did.placebo_test(frame, yname="Inno", assignments=as_frame.iloc[:, 1:],
                         vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")


@pytest.mark.parametrize("vcov", ["hetero", "iid"])
def test_other_covariances_equal_fe_ols_treatments(frame, vcov):
    d = frame.dropna(subset=CONTROLS).sort_values(["city_id", "year"])
    res = did.placebo_test(d,
                           yname="Inno", controls=CONTROLS, n_draws=8, seed=5, vcov=vcov, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")
    ucode = np.searchsorted(res.units, d["city_id"].to_numpy())
    D = (d["year"].to_numpy()[:, None] >= res.assignments.T[ucode]).astype(float)
    ref = panel.fe_ols_treatments(d["Inno"].to_numpy(), D, d[CONTROLS].to_numpy(),
                                  d["city_id"].to_numpy(), d["year"].to_numpy(), vcov=vcov)
    np.testing.assert_allclose(res.coefficients, ref.coef, atol=1e-10)
    np.testing.assert_allclose(res.std_errors, ref.std_error, rtol=1e-8)


@pytest.mark.parametrize("vcov", [{"CRV1": "city_id"}, "hetero", "iid"])
def test_blocks_of_draws_give_the_draws_of_one_block(frame, placebo, monkeypatch, vcov):
    """placebo_fwl computes its draws in blocks that fit in cache; one draw a block and
    blocks of 7 (the last one short) give what one block of all 40 gives, and the draws the
    effects absorb are named together, by their own indices, whichever blocks hold them."""
    kw = dict(yname="Inno", controls=CONTROLS, vcov=vcov, dname="CBEC", idname="city_id",
              tname="year", gname="adoption_year")
    A = placebo.assignments
    monkeypatch.setattr(did, "PLACEBO_BLOCK_CELLS", 10**12)
    whole = did.placebo_test(frame, assignments=A, **kw)
    n = whole.nobs
    for cells in (1, 7 * n):
        monkeypatch.setattr(did, "PLACEBO_BLOCK_CELLS", cells)
        blocked = did.placebo_test(frame, assignments=A, **kw)
        np.testing.assert_allclose(blocked.coefficients, whole.coefficients, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(blocked.std_errors, whole.std_errors, rtol=1e-12)
    never = A.copy()
    never[[3, 23, 24]] = np.nan              # no unit treated, nothing varies: in two blocks of 7
    with pytest.raises(ValueError, match=r"draws \[3, 23, 24\] are absorbed"):
        did.placebo_test(frame, assignments=never, **kw)


def test_adoption_dates_between_before_and_after_the_panels_periods(frame, placebo):
    """A reader's assignments may fall between observed periods, before the first or after
    the last: the pseudo-treatment is 1{t >= g} all the same (checked against the generic
    FWL engine on the indicator matrix built directly), on rows with gaps (missing controls)."""
    d = frame.dropna(subset=CONTROLS).sort_values(["city_id", "year"])
    A = placebo.assignments[:6].copy()
    treated = np.flatnonzero(np.isfinite(A[0]))
    A[0, treated[:5]] = 2015.5
    A[1, treated[:5]] = 1990.0
    A[2, treated[:5]] = 2100.0
    res = did.placebo_test(d, yname="Inno", controls=CONTROLS, assignments=A, vcov="hetero",
                           dname="CBEC", idname="city_id", tname="year", gname="adoption_year")
    ucode = np.searchsorted(res.units, d["city_id"].to_numpy())
    D = (d["year"].to_numpy()[:, None] >= res.assignments.T[ucode]).astype(float)
    ref = panel.fe_ols_treatments(d["Inno"].to_numpy(), D, d[CONTROLS].to_numpy(),
                                  d["city_id"].to_numpy(), d["year"].to_numpy(), vcov="hetero")
    np.testing.assert_allclose(res.coefficients, ref.coef, atol=1e-10)
    np.testing.assert_allclose(res.std_errors, ref.std_error, rtol=1e-8)


def test_ri_pvalue_counts_the_observed_assignment():
    # (1 + k) / (B + 1): never zero, 1 when every draw is as large (Young 2019)
    assert did.ri_pvalue(np.array([0.1, -0.2, 0.3]), 5.0) == 0.25
    assert did.ri_pvalue(np.array([0.1, -0.2, 0.3]), 0.2) == 0.75
    assert did.ri_pvalue(np.array([0.1, -0.2, 0.3]), 0.0) == 1.0
    assert did.ri_pvalue(np.array([0.1, np.nan]), 0.05) == 2 / 3


def test_sharp_null_gives_uniform_ri_pvalues():
    # under random assignment and no effect, the RI p-value is (about) uniform
    rng = np.random.default_rng(0)
    n_units, years = 60, np.arange(2010, 2020)
    df = pd.DataFrame({"city_id": np.repeat(np.arange(n_units), years.size),
                       "year": np.tile(years, n_units)})
    ps = []
    for rep in range(30):
        g = np.full(n_units, np.nan)
        pick = rng.choice(n_units, 20, replace=False)
        g[pick] = rng.choice([2013, 2015, 2017], 20)
        df["adoption_year"] = g[df["city_id"]]
        df["CBEC"] = (df["year"] >= df["adoption_year"]).astype(float)
        df["y"] = rng.normal(size=n_units)[df["city_id"]] + rng.normal(size=len(df))
        ps.append(did.placebo_test(df, yname="y", n_draws=200, seed=rep,
                                   vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year").ri_pvalue)
    assert stats.kstest(ps, "uniform").pvalue > 0.01


def test_plot_and_table(placebo):
    import matplotlib

    matplotlib.use("Agg")
    fig = placebo.plot(truth=0.012)
    ax = fig.axes[0]
    assert ax.get_legend().get_title().get_text() == placebo.ri_text()
    k = int(np.sum(np.abs(placebo.coefficients) >= abs(placebo.actual_estimate)))
    assert placebo.ri_text().startswith(f"RI p-value = {(1 + k) / 41:.3f} ({k} of 40")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "p-value"
    tab = placebo.table()
    assert "RI p-value (|coefficient|)" in tab.data.index


def test_errors(frame):
    with pytest.raises(KeyError, match="nope"):
        did.placebo_test(frame,
                         yname="Inno", gname="nope", vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year")
    bad = frame.copy()
    bad.loc[0, "adoption_year"] = 2011
    with pytest.raises(ValueError, match="varies within 1 units"):
        did.placebo_test(bad,
                         yname="Inno", vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")
    with pytest.raises(ValueError, match="n_draws must be >= 1"):
        did.placebo_test(frame,
                         yname="Inno", n_draws=0, vcov={"CRV1": "city_id"}, dname="CBEC", idname="city_id", tname="year", gname="adoption_year")

"""Provincial semi-synthetic panel (lib.data.provincial): calibration, truth, contract."""

import numpy as np
import pandas as pd
import pytest

from lib.book import fdi as F
from lib.data import provincial as P
from lib.data import DataContractError
from lib.methods.did import twfe


@pytest.fixture(scope="module")
def drawn():
    return P.simulate_province_panel()


def test_calibrated_to_printed_moments(drawn):
    df, _ = drawn
    assert df.shape[0] == 31 * 11 and df["province"].nunique() == 31
    cal = P.calibration_table(df)
    for k in ("fdi_mean", "dt_mean", "dt_sd"):
        assert cal.loc[k, "book"] == pytest.approx(cal.loc[k, "paper"], abs=1e-6)
    assert cal.loc["fdi_sd", "book"] == pytest.approx(1.197, abs=0.01)
    assert cal.loc["corr", "book"] == pytest.approx(0.524, abs=0.01)
    assert cal.loc["mean_vif", "book"] == pytest.approx(1.91, abs=0.3)


#: draws of the truth-recovery tests: the shipped seed and the next ones (not hand-picked)
RECOVERY_SEEDS = (P.DEFAULT_SEED, 1, 2, 3)
#: draws of the no-systematic-bias test
BIAS_SEEDS = tuple(range(101, 121))
KW = dict(idname="province", tname="year", vcov={"CRV1": "province"}, controls=P.CONTROLS)


def _within(frame, cols):
    """Two-way within transformation of a balanced panel (what twfe's point estimate uses)."""
    X = frame[list(cols)].to_numpy(float)
    pid = frame["province"].to_numpy()
    yr = frame["year"].to_numpy()
    gi = pd.DataFrame(X).groupby(pid).transform("mean").to_numpy()
    gt = pd.DataFrame(X).groupby(yr).transform("mean").to_numpy()
    return X - gi - gt + X.mean(0)


def _fe_slopes(frame, y, xs):
    """FE OLS point estimates of ``y`` on ``xs`` + controls (fast twin of lib.methods.did.twfe, checked below)."""
    W = _within(frame, [y, *xs, *P.CONTROLS])
    beta = np.linalg.lstsq(W[:, 1:], W[:, 0], rcond=None)[0]
    return dict(zip(xs, beta[: len(xs)]))


@pytest.fixture(scope="module")
def recovery():
    """Per seed: (estimate, s.e., truth) of every truth the chapter compares with, by its estimator."""
    out = {}
    for seed in RECOVERY_SEEDS:
        df, truth = P.simulate_province_panel(seed=seed)
        rows = {}
        for m in P.MEDIATORS:
            r = twfe(df, yname=m, dname="DT", **KW)
            rows[f"a_{m}"] = (r.params["DT"], r.std_errors["DT"], truth.paths[f"a_{m}"])
        r = twfe(df, yname="FDI", dname="DT", **KW)
        rows["DT -> FDI"] = (r.params["DT"], r.std_errors["DT"],
                             F.twfe_target(F.ProvincialData(df, {}, truth, ""), r))
        het = F.group_slopes(df)
        for lev in P.LEVELS:
            c = het.subsamples[lev].coef("DT")
            rows[f"table2 {lev}"] = (c["estimate"], c["std_error"], truth.total[lev])
        out[seed] = (df, truth, rows)
    return out


def test_truth_definitions(drawn):
    _, truth = drawn
    total = {g: truth.direct[g] + sum(truth.indirect.values()) for g in truth.direct}
    assert total == pytest.approx(truth.total)
    assert truth.indirect == pytest.approx({"MI": truth.paths["a_MI"] * truth.paths["b_MI"],
                                            "lnInc": truth.paths["a_lnInc"] * truth.paths["b_lnInc"]})


@pytest.mark.parametrize("seed", RECOVERY_SEEDS)
def test_truth_within_3_se(recovery, seed):
    """Every truth the chapter shows lies within 3 CRV1 s.e. of the chapter's estimate."""
    _, _, rows = recovery[seed]
    far = {k: round((est - tr) / se, 2) for k, (est, se, tr) in rows.items() if abs(est - tr) > 3 * se}
    assert not far, f"seed {seed}: truths more than 3 s.e. away (z): {far}"


def test_table2_precision_on_default_seed(recovery):
    """The group slopes are informative on the shipped panel: s.e. well below the gap high - low."""
    _, truth, rows = recovery[P.DEFAULT_SEED]
    gap = truth.total["high"] - truth.total["low"]
    for lev in P.LEVELS:
        assert rows[f"table2 {lev}"][1] < gap / 2.5


def test_fast_twin_matches_twfe(recovery):
    df, _, rows = recovery[P.DEFAULT_SEED]
    assert _fe_slopes(df, "MI", ["DT"])["DT"] == pytest.approx(rows["a_MI"][0], rel=1e-8)
    sub = df[df["infra_level"] == "low"]
    assert _fe_slopes(sub, "FDI", ["DT"])["DT"] == pytest.approx(rows["table2 low"][0], rel=1e-8)


def test_no_systematic_bias_across_seeds():
    """Mean gap (estimate - truth) over BIAS_SEEDS within 3 standard errors of that mean.

    Covers both paths a, the paths b of the three-step mediation (FDI on DT and
    one mediator), the pooled slope against its TWFE target, and Table 2.
    """
    gaps = []
    for seed in BIAS_SEEDS:
        df, truth = P.simulate_province_panel(seed=seed)
        g = {f"a_{m}": _fe_slopes(df, m, ["DT"])["DT"] - truth.paths[f"a_{m}"] for m in P.MEDIATORS}
        g.update({f"b_{m}": _fe_slopes(df, "FDI", ["DT", m])[m] - truth.paths[f"b_{m}"] for m in P.MEDIATORS})
        tau = df.assign(_tau=truth.effect_of(df) * df["DT"])
        g["DT -> FDI"] = _fe_slopes(df, "FDI", ["DT"])["DT"] - _fe_slopes(tau, "_tau", ["DT"])["DT"]
        for lev in P.LEVELS:
            g[f"table2 {lev}"] = _fe_slopes(df[df["infra_level"] == lev], "FDI", ["DT"])["DT"] - truth.total[lev]
        gaps.append(g)
    gaps = pd.DataFrame(gaps)
    mean, sem = gaps.mean(), gaps.std() / np.sqrt(len(gaps))
    bad = mean[mean.abs() > 3 * sem]
    assert bad.empty, f"systematic bias over {len(gaps)} seeds: {bad.round(4).to_dict()} (s.e.m. {sem.round(4).to_dict()})"


def test_groups_fixed_in_base_year(drawn):
    df, truth = drawn
    assert df.groupby("province")["infra_level"].nunique().max() == 1
    assert sorted(df.drop_duplicates("province")["infra_level"].value_counts()) == [10, 10, 11]
    assert set(truth.groups.values()) == {"high", "medium", "low"}


def test_contract_renames_and_errors(tmp_path):
    df = pd.read_csv(P.DERIVED / P.PANEL_FILE)
    mine = df.rename(columns={"FDI": "fdi_gdp", "province": "prov"})
    path = tmp_path / "mine.csv"
    mine.to_csv(path, index=False)
    out = P.load_provincial_panel(path, columns={"unit": "prov", "outcome": "fdi_gdp"})
    assert {"province", "FDI"} <= set(out.columns) and len(out) == 341
    with pytest.raises(DataContractError, match="'province'"):
        P.load_provincial_panel(path)
    dup = pd.concat([df, df.iloc[[5]]])
    with pytest.raises(DataContractError, match="duplicate province-year pairs"):
        P.validate_provincial(dup)
    bad = df.astype({"Urban": object})
    bad.loc[3, "Urban"] = "n/a"
    with pytest.raises(DataContractError, match=r"column 'Urban' \(control\): non-numeric values 'n/a'"):
        P.validate_provincial(bad)


def test_the_provincial_contract_is_the_city_contract_with_a_continuous_treatment():
    """One data contract: a provincial file gets the checks a city file gets."""
    from lib.data import PanelSpec, validate_panel

    df = pd.read_csv(P.DERIVED / P.PANEL_FILE)
    assert P.PROVINCIAL_PANEL.treatment_kind == "continuous" and P.PROVINCIAL_PANEL.adoption is None
    out = P.validate_provincial(df)
    assert out.attrs["report"]["balanced"] and out.attrs["report"]["cohorts"] == {}
    assert out["DT"].between(5, 20).all(), "a continuous treatment is kept as it is, not coded 0/1"
    once = df[~((df["province"] == "Tibet") & (df["year"] > 2012))]
    with pytest.raises(DataContractError, match=r"\(province=Tibet, year=2012\).*drop_singletons"):
        P.validate_provincial(once)
    gap = df.assign(year=df["year"].astype(float))
    gap.loc[7, "year"] = 2015.5
    with pytest.raises(DataContractError, match="not a whole year"):
        P.validate_provincial(gap)
    with pytest.raises(DataContractError, match="continuous treatment needs"):
        PanelSpec(treatment="DT", adoption="first_year", treatment_kind="continuous")
    mine = df.rename(columns={"Struc": "struct", "MI": "market"})
    spec = {"controls": ["struct", "Urban", "Stud", "Indus", "Tech"], "mediators": ["market"]}
    got = P.validate_provincial(mine, columns=spec)
    assert {"Struc", "MI"} <= set(got.columns) and got.attrs["report"]["renamed"] == {"struct": "Struc",
                                                                                      "market": "MI"}
    city = validate_panel(df, spec=P.provincial_spec(frame=df), canonical=P.PROVINCIAL_PANEL)
    pd.testing.assert_frame_equal(city.data, out)


def test_samples():
    df = pd.read_csv(P.DERIVED / P.PANEL_FILE)
    sub, info = P.apply_sample(df, "years_2012_2019")
    assert sub["year"].max() == 2019 and info["rows_after"] == 31 * 8
    assert P.apply_sample(df, "no_municipalities")[0]["province"].nunique() == 27
    with pytest.raises(ValueError, match="unknown sample 'north'.*valid samples: all, no_municipalities"):
        P.apply_sample(df, "north")


# ------------------------------------------------ estimates against targets (chapter fdi_empirics)
@pytest.fixture(scope="module")
def shipped():
    return F.chapter_data(seed=P.DEFAULT_SEED)


def test_fe_slopes_match_twfe(drawn):
    df, _ = drawn
    r = twfe(df, yname="FDI", dname="DT", **KW)
    assert F.fe_slopes(df, "FDI", ["DT"])["DT"] == pytest.approx(r.params["DT"], rel=1e-8)


def test_estimate_gaps_are_estimate_minus_target(shipped):
    gaps = F.estimate_gaps(shipped.frame, shipped.truth)
    r = twfe(shipped.frame, yname="FDI", dname="DT", **KW)
    assert gaps["pooled slope"] == pytest.approx(r.params["DT"] - F.twfe_target(shipped, r), rel=1e-6)
    het = F.group_slopes(shipped.frame)
    for lev in P.LEVELS:
        want = het.subsamples[lev].params["DT"] - shipped.truth.total[lev]
        assert gaps[f"Table 2, {lev}"] == pytest.approx(want, rel=1e-6)
    a = twfe(shipped.frame, yname="MI", dname="DT", **KW).params["DT"]
    assert gaps["a: DT -> MI"] == pytest.approx(a - shipped.truth.paths["a_MI"], rel=1e-6)


def test_seed_gaps_centre_on_zero():
    """What the chapter's gap table shows over GAP_SEEDS: no mean gap beyond 3 of its s.e."""
    g = F.seed_gaps()
    assert list(g.index) == list(F.GAP_SEEDS)
    z = g.mean() / (g.std(ddof=1) / np.sqrt(len(g)))
    assert (z.abs() < 3).all(), z.round(2).to_dict()


def test_gap_table_and_text():
    rows = {"x": (0.7, 0.05, 0.85), "y": (0.4, 0.1, 0.3)}
    seeds = pd.DataFrame({"x": [0.01, -0.01, 0.0], "y": [0.02, 0.0, -0.02]})
    t = F.gap_table(rows, seeds)
    assert t.loc["x", "gap / s.e."] == pytest.approx(-3.0)
    assert t.loc["y", "mean gap, 3 draws"] == pytest.approx(0.0)
    text = F.gap_summary_text(t)
    assert "1 of 2 estimates lie below" in text and "Over 3 other draws" in text
    assert "not a bias" in text
    assert "Over" not in F.gap_summary_text(F.gap_table(rows))
    assert F.side(-0.1) == "below" and F.side(0.1) == "above" and F.side(1e-5) == "on"


def test_robustness_targets_and_text(shipped):
    rob = F.robustness(shipped.frame)
    tg = F.robustness_targets(shipped, rob)
    assert np.isnan(tg["DT lagged"])
    assert tg["baseline"] == pytest.approx(F.twfe_target(shipped, rob["baseline"]), rel=1e-8)
    assert tg["FDI_alt"] == pytest.approx(shipped.truth.params["alt_scale"] * tg["baseline"], rel=1e-8)
    pers = F.lag_persistence(shipped.frame)
    text, lag = F.robustness_text(rob, tg, persistence=pers, expected_lag=F.lag_expected(shipped))
    assert "target" in text and "same-year DT only" in lag
    reader = F.ProvincialData(shipped.frame, {}, None, "reader")
    tr = F.robustness_targets(reader, rob)
    assert all(np.isnan(v) for v in tr.values()) and np.isnan(F.lag_expected(reader))
    text, lag = F.robustness_text(rob, tr, persistence=pers)
    assert "target" not in text and "truth" not in lag and "these data" not in lag
    assert F.baseline_truth_text(0.7, float("nan"), float("nan"), {"CRV1": 0.06}) == ""
    assert "0.150 below, 2.5 CRV1" in F.baseline_truth_text(0.7, 0.85, 0.69, {"CRV1": 0.06})
    assert F.mediation_truth_text({}, None) == ""


def test_between_share_and_group_sizes(drawn):
    df, _ = drawn
    flat = df.assign(x=df["province"].map({p: i for i, p in enumerate(df["province"].unique())}))
    assert F.between_share(flat, "x") == pytest.approx(1.0)
    assert 0 < F.between_share(df, "DT") < 1
    assert F.group_sizes_text(df) == "10 or 11"


def test_fdi_index_phrases():
    w = pd.Series({"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4})
    assert F.weight_rank_phrase(w, "a") == "the smallest of the 4"
    assert F.weight_rank_phrase(w, "c") == "the 2nd smallest of the 4"
    assert F.weight_rank_phrase(w, "d") == "the largest of the 4"
    comp = pd.DataFrame({"rho": {"entropy, per-year weights": 0.94, "entropy, two-level": 0.99,
                                 "equal weights": 0.99, "first principal component": 0.98}})
    ph = F.weighting_phrases(comp, synthetic=True)
    assert ph == {"rank_alike": "rank almost alike", "peryear_cmp": "less",
                  "rank_reason": ", because all the simulated indicators load on one latent development level"}
    comp.loc["equal weights", "rho"] = 0.5
    ph = F.weighting_phrases(comp, synthetic=False)
    assert ph["rank_alike"] == "rank differently" and ph["peryear_cmp"] == "more" and ph["rank_reason"] == ""


def test_provincial_files_that_used_to_mislead_get_a_clear_error_or_are_read_right(tmp_path):
    """Fractional years, inf, blanks around ids, yes/no flags and invalid YAML (any-panel issue)."""
    base = pd.read_csv(P.DERIVED / P.PANEL_FILE)

    def load(name, df, yml=None):
        path = tmp_path / f"{name}.csv"
        df.to_csv(path, index=False)
        cols = None
        if yml is not None:
            cols = tmp_path / f"{name}.yml"
            cols.write_text(yml)
        return P.load_provincial_panel(path, columns=cols)

    x = base.assign(year=base["year"].astype(float))
    x.loc[0, "year"] += 0.5
    with pytest.raises(DataContractError, match="column 'year' .*not a whole year"):
        load("fractional", x)
    x = base.copy()
    x.loc[0, "FDI"] = np.inf
    with pytest.raises(DataContractError, match="column 'FDI' .*infinite values"):
        load("inf", x)
    x = base.copy()
    x.loc[0, "province"] = " " + x.loc[0, "province"]
    assert load("blank", x)["province"].nunique() == 31
    x = base.assign(is_municipality=np.where(base["is_municipality"].astype(bool), "yes", "no"))
    got = load("yes_no", x).groupby("province")["is_municipality"].first()
    assert got.sum() == base.groupby("province")["is_municipality"].first().sum() == 4
    with pytest.raises(DataContractError, match=r"bad.yml: not valid YAML"):
        load("bad", base, yml="unit: [province\n")

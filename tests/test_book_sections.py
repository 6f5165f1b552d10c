"""Per-section value functions of lib.book: the wording that depends on the data."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lib.book import event_study as ES


def _leads(p):
    return pd.DataFrame({"p": p}, index=pd.Index(range(-len(p) - 1, -1), name="event_time"))


@pytest.mark.parametrize("p, text", [
    ([0.5, 0.3, 0.2, 0.6], "none of the 4 leads has p < 0.05"),
    ([0.01, 0.3, 0.2, 0.6], "1 of the 4 leads has p < 0.05: e = -5 (binned)"),
    ([0.01, 0.3, 0.02, 0.6], "2 of the 4 leads have p < 0.05: e = -5 (binned), e = -3"),
])
def test_leads_sentence_counts_and_agrees(p, text):
    assert ES.leads_sentence(_leads(p), binned_at=-5) == text


def _event_study():
    idx = pd.Index([-3, -2, -1, 0, 1, 2], name="event_time")
    est = pd.DataFrame({"estimate": [0.0, 0.001, 0.0, 0.01, 0.02, 0.03],
                        "std_error": [0.002, 0.002, np.nan, 0.003, 0.003, 0.004],
                        "p": [0.9, 0.6, np.nan, 0.01, 0.001, 0.0001],
                        "ci_lower": [-0.004, -0.003, np.nan, 0.004, 0.014, 0.022],
                        "ci_upper": [0.004, 0.005, np.nan, 0.016, 0.026, 0.038],
                        "band_lower": [-0.006, -0.005, np.nan, 0.001, 0.011, -0.001],
                        "band_upper": [0.006, 0.007, np.nan, 0.019, 0.029, 0.061]}, index=idx)
    es = SimpleNamespace(estimates=est, nobs=100, sup_t_critical=2.6, pointwise_critical=1.98,
                         pretrend_test={"statistic": 0.4, "p": 0.67, "df": (2, 99), "kind": "F"})
    sa = SimpleNamespace(estimates=est.assign(estimate=est["estimate"] + 0.001))
    return es, sa, pd.Series([0, 0, 0, 0.01, 0.015, 0.05], index=idx)


def test_fig1_values_on_the_books_data_cite_the_truth():
    es, sa, truth = _event_study()
    v = ES.fig1_values(es, sa, truth, synthetic=True, window_start=-3, ref=-1)
    assert v["f1_pretrend_verdict"] == "not rejected" and v["f1_lead_first_name"] == "e = -3 (binned)"
    assert v["f1_lead_truth_note"] == " The truth before designation is exactly zero."
    assert v["f1_e0_truth"] == " (truth 0.0100)" and v["f1_elast"] == 2
    assert v["f1_cover_text"] == ("; the 95% pointwise interval covers the truth at 2 of 3 "
                                  "post-designation event times")
    assert v["f1_band_excludes_zero_post"] == 2 and v["f1_n_coef"] == 5


def test_fig1_values_on_a_readers_data_say_nothing_of_a_truth():
    es, sa, truth = _event_study()
    v = ES.fig1_values(es, sa, truth * np.nan, synthetic=False, window_start=-3, ref=-1)
    assert v["f1_lead_truth_note"] == v["f1_e0_truth"] == v["f1_elast_truth"] == v["f1_cover_text"] == ""
    assert not any("truth" in str(x) for x in v.values())


# ------------------------------------------------------------------ mechanisms (Tables 11-13)
from lib.book import mechanisms as MS  # noqa: E402


@pytest.mark.parametrize("printed, text", [
    ({11: 3000, 12: 3100, 13: 3200},
     "None of its Ns exceeds the 3,316 city-years with complete controls of Table 4."),
    ({11: 3000, 12: 3360, 13: 3200},
     "Its N for Table 12 exceeds the 3,316 city-years with complete controls of Table 4, so that "
     "model cannot use the same controls as Table 4."),
    ({11: 3360, 12: 3360, 13: 3200},
     "Its Ns for Tables 11 and 12 exceed the 3,316 city-years with complete controls of Table 4, so "
     "those models cannot use the same controls as Table 4."),
])
def test_paper_n_sentence_agrees_in_number(printed, text):
    assert MS.paper_n_sentence(printed, 3316) == text


def test_mechanism_sentences_cite_a_truth_only_on_the_books_data():
    assert "0.0200" in MS.true_att_sentence(0.02, synthetic=True)
    assert "truth" not in MS.true_att_sentence(np.nan, synthetic=False).lower()
    med = SimpleNamespace(a=0.1, b=0.2, sobel_z=1.5, indirect=0.02, bootstrap_ci=(0.0, 0.04), nobs=99)
    truth = {"Diginf": {"a": 0.12, "b": 0.18, "indirect": 0.0216}}
    on = MS.mediator_values({"Diginf": med}, truth, synthetic=True)
    off = MS.mediator_values({"Diginf": med}, {"Diginf": {}}, synthetic=False)
    assert on["t11_a_tt"] == " (truth 0.1200)" and on["t11_ab_tt"] == " (truth 0.02160)"
    assert off["t11_a_tt"] == off["t11_b_tt"] == off["t11_ab_tt"] == "" and np.isnan(off["t11_a_truth"])
    assert on["t11_paper_n"] == MS.printed_mechanism_ns()[11]


# ------------------------------------------------------------------ PSM-DID (Table 6)
from lib.book import psm_tables as PT  # noqa: E402


def _att(att, se):
    return SimpleNamespace(att=att, se=se, true_att=lambda truth: 0.012 if truth is not None else np.nan)


def test_truth_clause_reads_distance_side_and_coverage():
    assert PT.truth_clause("the kernel ATT", -0.096, 0.063, 0.012, "bootstrap") == (
        "the kernel ATT is 1.7 bootstrap s.e. below it and its 95 % interval, from -0.2195 to "
        "0.0275, covers it")
    assert "above it" in PT.truth_clause("x", 0.2, 0.01, 0.0, "AI")
    assert "excludes it" in PT.truth_clause("x", 0.2, 0.01, 0.0, "AI")


@pytest.mark.parametrize("kernel, nn, wide, lesson", [
    ((-0.096, 0.063), (-0.086, 0.028), "The kernel interval covers the truth only because it is wide",
     "pooled matching misses the truth"),
    ((0.011, 0.004), (0.013, 0.004), None, "land near the truth"),
    ((-0.096, 0.063), (-0.090, 0.060), "The kernel and the nearest-neighbour intervals cover the "
                                       "truth only because they are wide", "misses the truth"),
])
def test_table6_reading(kernel, nn, wide, lesson):
    text = PT.table6_reading(_att(*kernel), _att(*nn), 0.012, k=5)
    assert text.startswith("The truth for these city-years is 0.0120: the kernel ATT is")
    assert "the 5:1 nearest-neighbour ATT is" in text and lesson in text
    assert (wide in text) if wide else ("only because" not in text)


def test_table6_values_say_nothing_of_a_truth_on_a_readers_data():
    k, n = _att(0.01, 0.004), _att(0.013, 0.005)
    boot = SimpleNamespace(se=0.006)
    off = PT.table6_values(k, n, boot, boot, None, synthetic=False, k=5, bootstrap_reps=50)
    assert off["t6_truth_reading"] == "" and off["t6_kernel_covers"] is False
    on = PT.table6_values(k, n, boot, boot, object(), synthetic=True, k=5, bootstrap_reps=50)
    assert on["t6_truth_reading"].startswith("The truth for these city-years is 0.0120")


# ------------------------------------------------------------------ heterogeneity (Tables 7, 10)
from lib.book import heterogeneity as HS  # noqa: E402


def test_below_reading_by_count():
    assert HS.below_reading(4, 4) == ("all 4", "as expected when the other regions' gains are absorbed "
                                               "into the year effects")
    assert HS.below_reading(2, 4)[0] == "2 of the 4" and "where it is not" in HS.below_reading(2, 4)[1]
    assert HS.below_reading(0, 4)[1].startswith("so on this panel sampling noise outweighs")


@pytest.mark.parametrize("pair, overall, three, start", [
    ({"p": np.nan, "difference": np.nan}, 0.5, 0.5, "One of the two agglomerations has no pilot"),
    ({"p": 0.01, "difference": 0.02}, 0.01, 0.01, "The pairwise test rejects"),
    ({"p": 0.3, "difference": 0.02}, 0.5, 0.5, "Neither test rejects at the 5 % level: "),
    ({"p": 0.3, "difference": 0.02}, 0.01, 0.5, "The overall rejection therefore comes from the other"),
    ({"p": 0.3, "difference": 0.02}, 0.01, 0.01, "The overall rejection comes from differences other"),
])
def test_agglomeration_reading_follows_the_tests(pair, overall, three, start):
    text = HS.agglomeration_reading(pair, overall_p=overall, three_p=three)
    assert text.startswith(start)
    if pair["p"] == 0.01:
        assert "Yangtze River Delta's the larger" in text
        flipped = HS.agglomeration_reading({"p": 0.01, "difference": -0.02}, overall_p=0.01, three_p=0.01)
        assert "opposite of the paper's ranking" in flipped


# ------------------------------------------------------------------ placebo (Fig. 2)
from lib.book import placebo as PL  # noqa: E402


@pytest.mark.parametrize("share, word", [(0.05, "close to"), (0.062, "close to"), (0.07, "above"),
                                         (0.03, "below")])
def test_share_vs_five_percent_uses_the_binomial_range(share, word):
    assert PL.share_vs_five_percent(share, 1000) == word  # range 5 % ± 1.35 points


def test_fig2_values_cite_the_truth_only_on_the_books_data():
    summ = pd.DataFrame({"value": {"placebo mean": 0.0, "placebo s.d.": 0.002,
                                   "placebo 2.5% quantile": -0.004, "placebo 97.5% quantile": 0.004,
                                   "share of placebo p < 0.05": 0.05}})
    pl = SimpleNamespace(summary_frame=lambda: summ, n_draws=1000, spec={"n_treated_units": 98},
                         actual_estimate=0.0105, ri_pvalue=1 / 1001, ri_pvalue_t=1 / 1001, n_as_large=0)
    on = PL.fig2_values(pl, 0.0106, synthetic=True)
    off = PL.fig2_values(pl, np.nan, synthetic=False)
    assert on["f2_truth_text"] == " (truth of the panel 0.0106)" and on["f2_sharp_null_note"]
    assert off["f2_truth_text"] == off["f2_sharp_null_note"] == ""
    assert on["f2_ratio_sd"] == pytest.approx(5.25) and on["f2_share_p05"] == pytest.approx(5.0)


def test_and_list_and_the_mediators_truth_reading():
    from lib.book import and_list

    assert [and_list(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == ["", "a", "a and b",
                                                                                "a, b and c"]
    gaps = pd.DataFrame({"ab_covered": [True, False, True], "a_gap_se": [0.4, -0.3, 1.2],
                         "b_gap_se": [0.2, 2.5, -0.1]}, index=["Diginf", "Spec", "Envir"])
    text = MS.truth_reading(gaps, ["Diginf", "Spec", "Envir"])
    assert text.startswith("The bootstrap interval of a·b covers the true indirect effect for Diginf "
                           "and Envir and excludes it for Spec. ")
    assert ("lie 0.4, 0.3 and 1.2 from the truth and those of b 0.2, 2.5 and 0.1 (Diginf, Spec and "
            "Envir).") in text
    assert text.endswith("For Spec, â is 0.3 s.e. below its truth and b̂ 2.5 s.e. above its truth, so "
                         "the miss comes mainly from b.")


def test_the_audit_counts_glue_calls_and_hidden_cells(tmp_path):
    from lib.book.audit import chapter_stats

    md = tmp_path / "c.md"
    md.write_text("# T\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n\nbook.glue(\"a\", 1)\n"
                  "book.record(\"b\", estimate=1)\nx = 1\n```\n\n```{code-cell} ipython3\n"
                  "book.glue_all({})\n```\n")
    assert chapter_stats(md) == {"glue_calls": 3, "longest_hidden_cell": 3, "at_line": 3}


def test_psm_counts_and_support_words():
    assert [PT.support_loss_word(n, 10) for n in (10, 6, 3, 0)] == ["all", "most", "some", "none"]
    counts = SimpleNamespace(counts={"treated_cities": 1, "treated_city_years": 1})
    strict = {"kernel": SimpleNamespace(att=0.02, se=0.01, true_att=lambda t: 0.01,
                                        counts={"treated_cities": 40, "treated_city_years": 90})}
    pooled = SimpleNamespace(att=-0.05, se=0.02, true_att=lambda t: 0.01)
    text = PT.cohort_match_values(strict, pooled, counts, None, other_controls="never",
                                  synthetic=True)["strict_text"]
    assert ('With cohort_controls = "never" instead, the kernel estimate covers 1 pilot city '
            '(1 treated city-year).') in text
    assert "The gap is 1.0 bootstrap s.e., against 3.0 for the pooled kernel ATT" in text
    reader = PT.cohort_match_values(strict, pooled, None, None, other_controls="never",
                                    synthetic=False)["strict_text"]
    assert "truth" not in reader and "covers only 40 pilot cities" in reader
    failed = PT.cohort_match_values(None, pooled, None, None, other_controls="never", synthetic=False,
                                    failure=PT.cohort_failure(ValueError("no overlap in cohort 2020.")))
    assert failed["strict_text"].startswith("On this panel the cohort-matched design cannot be estimated")


def test_simulation_values_word_the_mean_errors():
    from lib.book import simulations as SIM

    sim = pd.DataFrame({"truth": [0.02] * 4, "TWFE": [0.011, 0.012, 0.010, 0.011],
                        "CS never": [0.025, 0.015, 0.022, 0.018], "CS not yet": [0.02] * 4})
    sim.attrs["failed"] = [(7, "boom")]
    v = SIM.simulation_values(sim, reps=5, synthetic=False)
    assert v["sim_reps"] == 4 and v["sim_failed"].endswith("left out: 1 of 5.")
    assert v["sim_twfe_bias"] == pytest.approx(-0.009) and v["sim_cs_zero"] == "indistinguishable from zero"
    assert v["sim_bias_vs_noise"] == "large" and v["sim_panel_note"].startswith("(the simulation always")
    sim.attrs["failed"] = []
    assert SIM.simulation_values(sim, reps=4, synthetic=True)["sim_failed"] == "All 4 draws completed."


# ------------------------------------------------------------------ staggered DID chapter
def _summary(twfe=0.010, cs=0.017):
    names = ["TWFE", "TWFE + controls", "Sun-Abraham", "Callaway-Sant'Anna (never treated)",
             "Callaway-Sant'Anna (not yet treated)"]
    return pd.DataFrame({"estimate": [twfe, twfe + 0.001, cs, cs, cs + 0.001],
                         "std_error": [0.002, 0.002, 0.004, 0.004, 0.004], "p": 0.01,
                         "nobs": 100, "target": [0.011, 0.012, 0.016, 0.016, 0.016],
                         "truth": 0.016}, index=names)


@pytest.mark.parametrize("true_att, synthetic, start", [
    (0.0105, True, "On this draw of the data TWFE lands nearer"),
    (0.0165, True, "On this draw of the data the robust estimators land nearer"),
    (np.nan, False, "On a reader's own data there is no truth"),
])
def test_staggered_summary_says_which_side_is_nearer_the_truth(true_att, synthetic, start):
    from lib.book import staggered_sections as S

    v = S.summary_values(_summary(), {"TWFE": {"estimate": 0.02}}, true_att, synthetic=synthetic)
    assert v["sum_nearer"].startswith(start)
    assert v["sum_twfe"] == 0.010 and v["sum_csn"] == 0.017
    assert (v["sum_truth"] == "") is (not synthetic)
    assert v.records["TWFE"]["paper"] == 0.02 and v.records["Sun-Abraham"]["paper"] is None


def test_staggered_bias_sentence_only_on_the_books_data():
    from lib.book import staggered_sections as S

    summary = _summary()
    split = S.bias_split(summary)
    assert split.loc["TWFE", "bias (target − truth)"] == pytest.approx(-0.005)
    text = S.bias_values(split, summary, synthetic=True)["bias_text"]
    assert "misses the truth by -0.0050" in text and "0.3 of their standard errors (0.0040)" in text
    reader = S.bias_values(split, summary, synthetic=False)
    assert "no truth" in reader["bias_text"] and reader["se_ratio"] == pytest.approx(2.0)


def test_staggered_cohort_values_blank_a_single_unit_cohorts_se():
    from lib.book import staggered_sections as S

    grp = SimpleNamespace(estimates=pd.DataFrame({"estimate": [0.04, 0.03], "std_error": [1e-5, 0.004]},
                                                 index=pd.Index([2015, 2016], name="group")))
    n = pd.Series({2015: 1, 2016: 6})
    v = S.cohort_values(grp, n, pd.Series({2015: 0.05}))
    assert v["cs_smallest_cohort"] == 2015 and v["cs_smallest_n"] == 1
    assert v["cs_single_note"].startswith("With a single treated city")
    assert v.records["cs_cohort_2015"]["std_error"] is None
    assert v.records["cs_cohort_2016"]["std_error"] == 0.004 and np.isnan(v.records["cs_cohort_2016"]["truth"])
    assert S.cohort_values(grp, pd.Series({2015: 2, 2016: 6}), pd.Series(dtype=float))["cs_single_note"] == ""


def test_glue_all_records_what_a_section_cites(monkeypatch):
    from lib.book import chapter

    glued = {}
    monkeypatch.setattr(chapter, "glue", lambda k, v: glued.__setitem__(k, v))
    monkeypatch.setattr(chapter._STATE, "estimates", {})
    chapter.glue_all(chapter.Cited({"a": 1.5}, records={"est": dict(estimate=2.0, nobs=3)}))
    assert glued == {"a": 1.5}
    assert chapter.recorded()["est"]["estimate"] == 2.0 and chapter.recorded()["est"]["nobs"] == 3


# ------------------------------------------------------------------ theory, heterogeneity, PSM, FDI
def test_theory_verdicts_and_the_wedges_log_shift():
    from lib.book import theory_sections as T

    assert T.verdict(SimpleNamespace(holds=True)) == "holds"
    assert T.verdict(SimpleNamespace(holds=False)) == "does NOT hold"
    statics = pd.DataFrame({"t": [0, 10, 0, 10], "value": [0.0, 0.0, 0.2, 0.2],
                            "lnY": [1.0, 3.0, 1.0 + np.log(0.8), 3.0 + np.log(0.8)]})
    v = T.wedge_values(statics)
    assert v["tau_shift"] == pytest.approx(-np.log(0.8)) and v["tau_hi"] == 0.2
    rec = v.records["ln Y shift at the largest tau"]
    assert rec["estimate"] == pytest.approx(rec["truth"], abs=1e-12)


def test_interaction_values_name_each_level_and_leave_truth_blank_without_one():
    from lib.book import heterogeneity as HB

    params = pd.Series({"a×D": 0.1, "b×D": 0.3})
    ge = SimpleNamespace(wald={"statistic": 2.5, "p": 0.11}, interacted=SimpleNamespace(params=params),
                         levels=("a", "b"),
                         interaction={"a": SimpleNamespace(params=pd.Series({"a×D": 0.05}))},
                         term=lambda level: f"{level}×D")
    v = HB.interaction_values(ge, "t8", {"a": 0.12, "b": 0.25}, short={"a": "x", "b": "y"}, printed="a")
    assert v == {"t8_wald_F": 2.5, "t8_wald_p": 0.11, "t8_x_printed": 0.05, "t8_x_interacted": 0.1,
                 "t8_x_truth": 0.12, "t8_y_interacted": 0.3, "t8_y_truth": 0.25}
    blank = HB.interaction_values(ge, "t8", None, short={"a": "x", "b": "y"}, printed="a")
    assert np.isnan(blank["t8_x_truth"]) and np.isnan(blank["t8_y_truth"])


def test_psm_score_sentence_only_on_the_books_data_and_the_papers_counts():
    from lib.book import psm_tables as P

    score = SimpleNamespace(counts=lambda: {"rows": 100, "treated": 10, "control": 90, "dropped": 4},
                            pseudo_r2=0.3, lr_chi2=55.0)
    assert P.score_values(score, synthetic=True)["score_design"].startswith(" Selection on observables")
    assert P.score_values(score, synthetic=False)["score_design"] == ""
    frame = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3], "ever": [1, 1, 0, 0, 1, 1], "D": [0, 1, 0, 0, 0, 0]})
    v = P.paper_reading_values(pd.Series([0.1, 0.2, 0.3]), frame, paper_counts={"treated": 30, "control": 5},
                               cbec_mean_paper=0.09, dname="D", treated="ever", idname="id")
    assert v["n_pilot_cities"] == 2 and v["ever_share"] == pytest.approx(4 / 6)
    assert v["p6_sum"] == 35 and v["n_cbec_rows"] == 1 and v["share_median"] == 0.2


def test_fdi_gap_reading_without_a_truth():
    from lib.book import fdi as F

    gaps = pd.DataFrame({"gap": [0.01], "s.e.": [0.02], "target": [np.nan]}, index=["pooled slope"])
    v = F.gap_values(gaps, None, synthetic=False)
    assert v["gap_text"].startswith("No truth is known")
    assert v.records["gap pooled slope"]["mean_gap_draws"] is None


# ------------------------------------------------------------------ any panel: baseline and comparison group
def _mini(cohorts, periods=range(1, 6), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for unit, g in enumerate(cohorts):
        for t in periods:
            rows.append({"u": unit, "t": t, "g": g, "y": rng.normal() + (t >= g if g else 0)})
    return pd.DataFrame(rows)


def test_two_by_two_picks_a_cohort_the_data_have_and_matches_four_means():
    from lib.book import baseline

    df = _mini([3, 3, 4, None, None])
    kw = dict(yname="y", idname="u", tname="t", gname="g")
    tbt = baseline.two_by_two(df, cohort=3, **kw)
    m = df.pivot(index="u", columns="t", values="y")
    hand = (m.loc[[0, 1], 3] - m.loc[[0, 1], 2]).mean() - (m.loc[[3, 4], 3] - m.loc[[3, 4], 2]).mean()
    assert tbt.did == pytest.approx(hand, abs=1e-12) and (tbt.before, tbt.after) == (2, 3)
    assert tbt.comparison == "never treated" and tbt.note == ""
    other = baseline.two_by_two(df, cohort=2016, **kw)   # absent: the largest usable cohort
    assert other.cohort == 3 and "no usable cohort 2016" in other.note
    never_none = baseline.two_by_two(_mini([3, 3, 5]), cohort=3, **kw)
    assert never_none.comparison == "not yet treated" and never_none.n_control == 1
    gappy = df.drop(index=df.index[(df["u"] == 0) & (df["t"] == 2)])   # unit 0 lacks the year before
    assert baseline.two_by_two(gappy, cohort=3, **kw).n_treated == 1


def test_with_comparison_group_uses_the_last_cohort_when_no_unit_is_never_treated():
    from lib.book import chapter
    from lib.data import validate_panel
    from fixtures.panels import make_panel

    def data_of(adoption):
        panel = validate_panel(make_panel(adoption=adoption))
        return chapter.ChapterData(panel=panel, frame=panel.data, sample={}, truth=None, source="t")

    same, note = chapter.with_comparison_group(data_of((2012, 2011, 2013, 2014, None, None)), needs="x")
    assert note == "" and len(same.frame) == 30
    data, note = chapter.with_comparison_group(data_of((2012, 2011, 2013, 2014, 2013, 2012)),
                                               needs="the event study")
    assert data.frame["year"].max() == 2013 and data.frame["adoption_year"].isna().sum() == 4
    assert "first treated last, in 2014" in note and "The event study needs" in note
    with pytest.raises(chapter.ChapterUnsupported, match="first treated in 2012"):
        chapter.with_comparison_group(data_of((2012,) * 6), needs="x")


def test_sensitivity_sentences_follow_the_breakdown_values():
    from types import SimpleNamespace

    from lib.book.event_study import sensitivity_values

    sd = SimpleNamespace(breakdown=0.0025, std_error=0.0023)
    rm = SimpleNamespace(breakdown=0.92)
    text = sensitivity_values(sd, rm, 0.0076)["hd_text"]
    assert "less than M = 0.0025 per year (1.09 standard errors" in text
    assert "from about Mbar = 0.92: a post-period violation 0.92 times the largest one" in text
    assert "diff-diff" not in text
    assert text.endswith("on these semi-synthetic data is 0.0076.")
    powered = sensitivity_values(sd, rm, None, {0.5: 0.0011, 0.8: 0.0016})
    assert "rise by 0.0011 a year" in powered["hd_text"] and "by 0.0016 to detect it 80 %" in powered["hd_text"]
    assert set(powered.records) >= {"pretrend_power_50_slope", "pretrend_power_80_slope"}
    reader = sensitivity_values(sd, None, None)
    assert "Mbar" not in reader["hd_text"] and "semi-synthetic" not in reader["hd_text"]
    assert set(reader.records) == {"honest_smoothness_breakdown"}
    already = sensitivity_values(SimpleNamespace(breakdown=float("nan"), std_error=1.0), None, None)
    assert "already includes zero" in already["hd_text"]
    assert sensitivity_values(None, None, None)["hd_text"] == ""


def test_sensitivity_sentences_when_no_breakdown_is_found():
    from types import SimpleNamespace

    from lib.book.event_study import sensitivity_values

    inf = SimpleNamespace(breakdown=float("inf"), std_error=1.0)
    cited = sensitivity_values(inf, SimpleNamespace(breakdown=float("inf")), None)
    assert "at every bound searched" in cited["hd_text"] and "every bound searched (up to Mbar = 64)" in cited["hd_text"]
    assert cited.records["honest_smoothness_breakdown"] == {"estimate": None, "no_breakdown_found": True}


def test_staggered_summary_names_cs_with_controls_when_there_is_one():
    from lib.book import staggered_sections as S

    summary = _summary()
    assert S.summary_values(summary, {}, 0.016, synthetic=True)["sum_csc_text"] == ""
    summary.loc["Callaway-Sant'Anna + controls (doubly robust)"] = [0.0172, 0.004, 0.01, 2880, 0.016, 0.016]
    text = S.summary_values(summary, {}, 0.016, synthetic=True)["sum_csc_text"]
    assert "2,880 city-years) Callaway-Sant'Anna gives 0.0172" in text


def test_sensitivity_values_take_a_prefix_for_a_second_section():
    from types import SimpleNamespace

    from lib.book.event_study import sensitivity_values

    cited = sensitivity_values(SimpleNamespace(breakdown=0.002, std_error=0.001), None, None, prefix="cs_hd")
    assert set(cited) == {"cs_hd_text"} and set(cited.records) == {"cs_hd_honest_smoothness_breakdown"}
    assert set(sensitivity_values(None, None, None, prefix="cs_hd")) == {"cs_hd_text"}


def test_cs_event_values_cite_the_joint_test_of_the_leads():
    from types import SimpleNamespace

    from lib.book import staggered_sections as S

    ev = SimpleNamespace(crit_value=2.7, estimates=pd.DataFrame(
        {"estimate": [0.0, 0.01], "std_error": [np.nan, 0.002]}, index=pd.Index([-1, 0], name="event_time")))
    cited = S.event_values(ev, None, {"statistic": 10.03, "df": 5, "p": 0.074})
    assert "the 5 aggregated leads shown gives χ²(5) = 10.03, p = 0.074" in cited["cs_pretest_text"]
    assert cited.records["cs_pretest"]["df"] == 5
    assert S.event_values(ev, None)["cs_pretest_text"] == ""
    cells = {"statistic": 37.5, "df": 29, "p": 0.134, "n_cells": 29, "left_out": [(2015, 2011), (2015, 2012)]}
    both = S.event_values(ev, None, {"statistic": 10.03, "df": 5, "p": 0.074}, cells)["cs_pretest_text"]
    assert both.startswith(" R `did`'s pre-test, that all 29 pre-period ATT(g,t) are zero, gives χ²(29) = 37.50")
    assert "the cells of the 2015 cohort, with one treated unit, are left out" in both
    assert both.index("29 pre-period") < both.index("5 aggregated leads")
    clean = S.event_values(ev, None, None, dict(cells, left_out=[]))["cs_pretest_text"]
    assert "left out" not in clean and clean.endswith("p = 0.134.")


def test_calendar_values_mark_single_unit_years_and_cite_a_truth_only_on_the_books_data():
    from lib.book import staggered_sections as S

    est = pd.DataFrame({"estimate": [0.05, 0.02, 0.01], "std_error": [np.nan, 0.005, 0.004],
                        "n_treated": [1, 6, 9]}, index=pd.Index([2015, 2016, 2017], name="time"))
    cal = SimpleNamespace(estimates=est, overall={"estimate": 0.0267, "std_error": 0.003})
    v = S.calendar_values(cal, pd.Series({2015: 0.02, 2016: 0.01, 2017: 0.012}))
    assert (v["cal_first"], v["cal_last"]) == (2015, 2017)
    assert "In 2015 a single unit was treated" in v["cal_text"]
    assert "average 0.0140" in v["cal_text"] and "in 2016, by 2.0 standard errors" in v["cal_text"]
    assert v.records["cs_calendar_2015"]["std_error"] is None and v.records["cs_calendar_2015"]["n_treated"] == 1
    reader = S.calendar_values(cal, None)
    assert "semi-synthetic" not in reader["cal_text"] and reader.records["cs_calendar_2016"]["truth"] is None
    tf = pd.DataFrame({"t": [1, 2, 3, 1, 2, 3], "g": [2, 2, 2, np.nan, np.nan, np.nan],
                       "true_effect": [0.0, 1.0, 2.0, 0.0, 0.0, 0.0]})
    assert S.calendar_truth(tf, {"tname": "t", "gname": "g"}).to_dict() == {2: 1.0, 3: 2.0}


def test_cs_variants_leave_out_what_a_readers_panel_cannot_support_and_say_so():
    from lib.book import staggered_sections as S

    rng = np.random.default_rng(0)
    n, years = 40, range(2010, 2018)
    d = pd.DataFrame({"id": np.repeat(np.arange(n), len(years)), "t": np.tile(list(years), n)})
    d["g"] = np.where(d["id"] % 3 == 0, 2013.0, np.where(d["id"] % 3 == 1, 2015.0, np.nan))
    d["x"] = rng.normal(size=len(d))
    d["y"] = rng.normal(size=len(d)) + 0.5 * (d["t"] >= d["g"])
    cols = {"yname": "y", "idname": "id", "tname": "t", "gname": "g"}
    full, notes = S.cs_variants(d, d.assign(true_effect=0.5 * (d["t"] >= d["g"])), cols, ["x"], synthetic=True)
    assert len(full) == len(S.CS_VARIANTS) and notes == []
    assert full["target"].dropna().size == len(full)
    no_x, notes = S.cs_variants(d, d, cols, [], synthetic=False)
    assert len(no_x) == 3 and "no controls" in notes[0] and "target" not in no_x
    pilots = d[d["g"].notna()]
    only_late, notes = S.cs_variants(pilots, pilots, cols, ["x"], synthetic=False)
    assert set(only_late.index.get_level_values("comparison")) == {"not yet treated"}
    assert any("never treated" in n for n in notes)
    # units adopting after the panel ends count as never treated, as in callaway_santanna
    late = pilots.assign(g=np.where(pilots["g"] == 2015, 2030.0, pilots["g"]))
    with_late, notes = S.cs_variants(late, late, cols, ["x"], synthetic=False)
    assert "never treated" in set(with_late.index.get_level_values("comparison")) and notes == []
    text = S.cs_variants_values(full, synthetic=True)["csv_text"]
    assert text.startswith("Across the 8 variants without anticipation") and "target" in text
    reader = S.cs_variants_values(no_x, synthetic=False)["csv_text"]
    assert "target" not in reader and "truth" not in reader and reader.startswith("Across the 2 variants")


def test_indirect_tests_table_and_the_covariance_sentence():
    from lib.book import mechanisms as M
    from lib.methods.mediation import indirect_tests

    def med(cov, boot):
        return SimpleNamespace(tests=indirect_tests(0.02, 0.002, 0.05, 0.02, cov), indirect=0.001,
                               bootstrap_se=boot, cov_ab=cov)

    results = {"Diginf": med(-1e-6, 0.0004), "Spec": med(0.0, float("nan"))}
    table = M.indirect_tests_table(results)
    assert list(table.columns) == ["s.e.", "z", "p"] and len(table) == 10
    assert table.loc[("Diginf", "cluster bootstrap (s.d. of the draws)"), "z"] == pytest.approx(2.5)
    assert np.isnan(table.loc[("Spec", "cluster bootstrap (s.d. of the draws)"), "s.e."])
    text = M.indirect_tests_values(results)["med_cov_text"]
    assert "by at most" in text and "(Diginf, down)" in text
    nan = {"X": SimpleNamespace(tests=indirect_tests(0.02, 0.002, 0.05, 0.02, 0.0), cov_ab=float("nan"))}
    assert "not estimated" in M.indirect_tests_values(nan)["med_cov_text"]


def test_nn_variants_rows_and_what_a_panel_cannot_support():
    from lib.book import psm_tables as P
    from lib.methods import psm

    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    frame = pd.DataFrame({"city_id": np.arange(n) // 3, "year": np.arange(n) % 3, "x": x,
                          "D": (x + rng.normal(size=n) > 0.8).astype(int), "y": x + rng.normal(size=n)})
    score = psm.propensity_score(frame, treatment="D", covariates=["x"], outcome="y", idname="city_id", tname="year")
    rows, notes = P.nn_variants(score, k=5, ties="keep", seed=0, truth=None)
    labels = [r["quantity"] for r in rows]
    assert labels[1] == "5:1, with replacement (clustered s.e.)" and len(rows) == 6 and notes == []
    caliper = 0.25 * score.score.std()
    assert labels[3] == f"5:1, caliper {caliper:.3f} (¼ s.d. of the score)"
    within = psm.nn_match(score, k=5, caliper=caliper)
    assert rows[3]["book"] == within.att and rows[3]["book_n"] == within.n_treated
    # a panel with fewer controls than neighbours: every variant that needs them is left out, and said
    small = frame.assign(D=np.where(np.isin(np.arange(n), [10, 80, 150, 220]), 0, 1))
    tiny = psm.propensity_score(small, treatment="D", covariates=["x"], outcome="y", idname="city_id", tname="year")
    rows, notes = P.nn_variants(tiny, k=5, ties="keep", seed=0, truth=None)
    assert [r["quantity"] for r in rows] == ["1:1, without replacement"] and len(notes) == 4


def test_clustered_values_name_a_dominant_unit_only(monkeypatch):
    from lib.book import psm_tables as P
    from lib.methods import psm

    frame = pd.DataFrame({"city_id": [110000, 110000, 2, 3]}, index=[10, 11, 12, 13])
    nn = SimpleNamespace(score=SimpleNamespace(idname="city_id", frame=frame),
                         weights=np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]), on_support=np.array([True, True]),
                         control_index=pd.Index([11, 12, 13]))
    for shares, start in (({110000: 0.98, 2: 0.02}, "98 % of the clustered variance comes from one city_id, "
                                                     "110000, whose untreated rows carry 50 % of the matching"),
                          ({1: 0.2, 2: 0.2, 3: 0.6}, "60 % of"), ({1: 0.3, 2: 0.3, 3: 0.3}, "No single city_id")):
        series = pd.Series(shares).sort_values(ascending=False)
        monkeypatch.setattr(psm, "clustered_variance_shares", lambda m, cluster, s=series: s)
        assert P.clustered_values(nn, idname="city_id")["nn_cluster_text"].startswith(start)
    cross = SimpleNamespace(score=SimpleNamespace(idname=None))
    assert P.clustered_values(cross, idname="city_id")["nn_cluster_text"] == ""


def test_rosenbaum_sentence_follows_the_critical_gamma():
    from lib.book import psm_tables as P

    def rb(crit, p1=0.001, alternative="greater"):
        return SimpleNamespace(critical_gamma=crit, alternative=alternative,
                               bounds=pd.DataFrame({"p_upper": [p1, 0.2]}, index=[1.0, 3.0]))

    assert "stops being significant at Γ = 1.5" in P.rosenbaum_values(rb(1.5))["rosenbaum_text"]
    assert "not significant even without hidden bias (p = 0.400" in P.rosenbaum_values(
        rb(float("nan"), 0.4, "less"))["rosenbaum_text"]
    assert "negative effect" in P.rosenbaum_values(rb(float("nan"), 0.4, "less"))["rosenbaum_text"]
    assert "every Γ up to 3" in P.rosenbaum_values(rb(float("inf")))["rosenbaum_text"]


def _small_panel_score(seed=0, n=300, per_unit=3):
    from lib.methods import psm

    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"city_id": np.arange(n) // per_unit, "year": np.arange(n) % per_unit, "x": x,
                          "D": (x + rng.normal(size=n) > 0.8).astype(int), "y": x + rng.normal(size=n)})
    return psm.propensity_score(frame, treatment="D", covariates=["x"], outcome="y", idname="city_id",
                                tname="year")


def test_se_menu_rows_values_and_the_ratio_sentence():
    from lib.book import psm_tables as P
    from lib.methods import psm

    score = _small_panel_score()
    kernel = psm.kernel_match(score, bootstrap_reps=20, seed=1)
    nn = psm.nn_match(score, k=5, cluster="city_id")
    nn_boot = psm.bootstrap_att(score, method="nn", k=5, reps=20, seed=1, comparison_only=True)
    re_boot = psm.bootstrap_att(score, reps=20, seed=1, reestimate_score=True)
    menu = P.se_menu(kernel, nn, nn_boot=nn_boot, re_boot=re_boot, cluster="city_id", unit="city")
    assert list(menu.columns) == ["kernel", "nearest neighbour", "a city's rows may be correlated"]
    assert menu.loc["clustered by city, analytic", "nearest neighbour"] == nn.se
    assert menu.loc["Abadie-Imbens (2006), score treated as known", "nearest neighbour"] == nn.extra["se_unclustered"]
    assert menu.loc["Abadie-Imbens (2016), score estimated (teffects)", "nearest neighbour"] == \
        pytest.approx(psm.abadie_imbens_2016_se(nn))
    assert np.isnan(menu.loc["Abadie-Imbens (2006), score treated as known", "kernel"])
    assert menu.iloc[0, 0] == pytest.approx(psm.psmatch2_se(kernel))
    text = P.se_values(menu, cluster="city_id", unit="city")
    r = menu.loc["clustered by city, analytic", "kernel"] / menu.iloc[0, 0]
    assert text["t6_ratio_kernel"] == pytest.approx(r) and text["t6_se_text"].startswith(
        f"The clustered s.e. are {r:.0f} (kernel)")
    # a cross-section: no clustered row, and the sentence says why the s.e. agree
    cross = P.se_menu(kernel, psm.nn_match(score, k=5), nn_boot=nn_boot, re_boot=re_boot, cluster=None)
    assert not any(i.startswith("clustered") for i in cross.index) and "row bootstrap, score fixed (invalid for NN)" in cross.index
    assert "cross-section" in P.se_values(cross, cluster=None)["t6_se_text"]
    # greedy matching has no estimated-score adjustment: NaN, not an error
    greedy = psm.nn_match(score, k=1, replace=False)
    assert np.isnan(P.se_menu(kernel, greedy, nn_boot=nn_boot, re_boot=re_boot, cluster=None).iloc[2, 1])


def test_support_choices_rows_and_the_trimming_note():
    from lib.book import psm_tables as P

    rows, notes = P.support_choices(_small_panel_score(), bandwidth=0.06, k=5, ties="keep", seed=0,
                                    truth=None, cluster="city_id")
    labels = [r["quantity"] for r in rows]
    assert labels[:4] == ["no support restriction: kernel", "no support restriction: 5:1 NN",
                          "common support (default): kernel", "common support (default): 5:1 NN"]
    assert labels[4].startswith("Crump trimming, α = 0.") and len(rows) == 6
    assert notes[0].startswith("Crump et al.'s rule gives α = ") and "treated and" in notes[0]
    assert all(np.isnan(r["truth"]) or r["truth"] is None for r in rows)


def test_interval_table_and_the_bca_sentence():
    from lib.book import mechanisms as M
    from lib.methods.mediation import indirect_tests

    def med(perc, bca):
        return SimpleNamespace(tests=indirect_tests(0.02, 0.002, 0.05, 0.02, 0.0), indirect=0.001,
                               bootstrap_ci=perc, bca_ci=bca)

    results = {"Diginf": med((0.0004, 0.0016), (0.0005, 0.0017)), "Spec": med((0.0, 0.002), (0.0, 0.002))}
    t = M.interval_table(results, truth={"Diginf": 0.0012, "Spec": 0.003})
    assert t.loc[("Diginf", "bootstrap BCa"), "lower"] == 0.0005
    assert t.loc[("Spec", "bootstrap BCa"), "covers truth"] == "no"
    assert t.loc[("Diginf", "normal, Sobel with covariance"), "covers truth"] == "yes"
    assert "truth" not in M.interval_table(results).columns
    text = M.interval_values(results)["med_bca_text"]
    assert "at most 8 % of its width (Diginf, up), so the two agree" in text
    skewed = {"X": med((0.0, 0.001), (0.0005, 0.0015))}
    assert "the BCa interval is the one to report" in M.interval_values(skewed)["med_bca_text"]
    none = {"X": med((np.nan, np.nan), (np.nan, np.nan))}
    assert "no bootstrap intervals" in M.interval_values(none)["med_bca_text"]


def test_sensitivity_table_and_sentence_name_the_most_fragile_mediator():
    from lib.book import mechanisms as M
    from lib.methods.mediation import MediationSensitivity

    def sens(rho0, slope=-0.01):
        rhos = np.linspace(-0.5, 0.5, 41)
        curve = pd.DataFrame({"acme": slope * (rhos - rho0), "lower": np.nan, "upper": np.nan},
                             index=pd.Index(rhos, name="rho"))
        return MediationSensitivity(curve=curve, rho_zero=rho0, mediator="m", level=0.95, reps=0)

    s = {"Diginf": sens(0.3), "Spec": sens(-0.05), "Envir": sens(0.6)}
    results = {m: SimpleNamespace(indirect=0.001) for m in s}
    t = M.sensitivity_table(s, results)
    assert list(t.index) == ["Diginf", "Spec", "Envir"]
    assert t.loc["Diginf", "at ρ = 0.1"] == pytest.approx(-0.01 * (0.1 - 0.3))
    text = M.sensitivity_values(s)["med_sens_text"]
    assert text.startswith("For Spec an error correlation of -0.05, a small one, would explain")
    assert "(for Diginf 0.30, Envir 0.60)" in text
    assert "a large one" in M.sensitivity_values({"Envir": sens(0.6)})["med_sens_text"]
    assert M.sensitivity_values({})["med_sens_text"] == ""


from lib.book import results_page as RP  # noqa: E402


@pytest.mark.parametrize("name, term, label", [
    ("table4_col2", "CBEC", "Column 2: CBEC"),
    ("table11_b_Diginf", "Diginf", "Diginf → outcome (b path)"),
    ("table12_a_Spec", "CBEC", "Treatment → Spec (a path): CBEC"),
    ("table11_direct_CBEC", "CBEC", "Direct effect of CBEC (c′)"),
    ("table13_sobel_z", None, "Sobel z"),
    ("table7_East_as_printed", "East×CBEC", "East, interaction as printed (East×CBEC)"),
    ("table9_large_medium_subsample", "CBEC", "Large medium subsample: CBEC"),
    ("Table 6 kernel ATT", None, "Kernel ATT"),
    ("fig2_actual_estimate", "CBEC", "Actual estimate: CBEC"),
    ("mean VIF", None, "Mean VIF"),
])
def test_results_page_names_each_quantity_in_words(name, term, label):
    assert RP.quantity_label(name, term) == label


def test_results_page_marks_the_companion_papers_tables():
    assert RP._paper_item({"name": "table2 high", "chapter": "fdi_empirics"}) == "companion Table 2"
    assert RP._paper_item({"name": "Table 2 Business environment (%)", "chapter": "policy_text"}) == "Table 2"
    assert RP._paper_item({"name": "mean VIF", "chapter": "fdi_empirics"}) == ""


def test_results_page_titles_come_from_sources_or_notebooks(tmp_path):
    import json

    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "a.md").write_text("---\nx: 1\n---\n\n# Baseline: the paper's Table 4\n")
    nb = {"cells": [{"cell_type": "code", "source": "# not a title"},
                    {"cell_type": "markdown", "source": ["# Event study: ", "leads and lags\n"]}]}
    (tmp_path / "chapters" / "b.ipynb").write_text(json.dumps(nb))
    assert RP.short_titles(tmp_path, ["a", "b", "c"]) == {"a": "Baseline", "b": "Event study", "c": "C"}

"""The audit of printed tables (lib.methods.paper_audit): known answers on both papers, a
brute-force second implementation of the rounding logic, and the input errors a reader meets."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lib.book import paper_audit as BA
from lib.data import published
from lib.methods import paper_audit as PA

LEVELS = (0.05, 0.01, 0.001)


def _main_paper():
    return BA.audit_papers().audits["the main paper"]


# ------------------------------------------------------------------ building blocks
@pytest.mark.parametrize("text, interval", [
    ("0.0157", (0.01565, 0.01575)), ("29.77", (29.765, 29.775)), ("3360", (3359.5, 3360.5)),
    ("-0.00438", (-0.004385, -0.004375)), ("1.2e-05", (1.15e-05, 1.25e-05)),
])
def test_a_printed_number_stands_for_its_rounding_interval(text, interval):
    assert PA.printed_interval(text) == pytest.approx(interval, abs=1e-15)


def test_bounds_printed_without_decimals_are_exact_where_asked():
    assert PA.printed_interval("1", integers_exact=True) == (1.0, 1.0)
    assert PA.printed_interval("0.0000", integers_exact=True) == pytest.approx((-5e-5, 5e-5))


@pytest.mark.parametrize("stars, interval", [
    ("***", (0.0, 0.001)), ("**", (0.001, 0.01)), ("*", (0.01, 0.05)), ("", (0.05, 1.0)),
    ("p<0.01", (0.0, 0.01)), ("p < 0.05", (0.0, 0.05)), ("p>0.1", (0.1, 1.0)),
])
def test_stars_claim_a_range_of_p_values(stars, interval):
    assert PA.stars_interval(stars, LEVELS) == interval


def test_stars_beyond_the_stated_levels_or_free_text_claim_nothing():
    assert PA.stars_interval("****", LEVELS) is None
    assert PA.stars_interval("sig.", LEVELS) is None


def test_p_values_are_the_normal_ones_and_widen_to_student_t_at_the_stated_dof():
    lo, hi = PA.p_interval(1.9, 2.1)
    assert lo == pytest.approx(2 * stats.norm.sf(2.1), rel=1e-12)
    assert hi == pytest.approx(2 * stats.norm.sf(1.9), rel=1e-12)
    assert PA.p_interval(1.9, 2.1, dof=10)[1] == pytest.approx(2 * stats.t.sf(1.9, 10), rel=1e-12)


def test_the_bhatia_davis_bound_is_attained_by_a_two_point_sample():
    n, k = 40, 7          # k values at 1, n - k at 0: the largest spread a mean of k/n allows
    x = np.r_[np.ones(k), np.zeros(n - k)]
    assert PA.bhatia_davis_bound(x.mean(), 0, 1, n) == pytest.approx(x.std(ddof=1), rel=1e-12)


# ------------------------------------------------------------------ a second implementation
def _stars_possible_by_grid(b: str, se: str, stars: str) -> bool:
    """Brute force: is any (b, s.e.) on a fine grid inside the rounding intervals consistent with
    the stars under the normal reference?"""
    bs = np.linspace(*PA.printed_interval(b), 101)
    ss = np.linspace(*PA.printed_interval(se), 101)
    lo, hi = PA.stars_interval(stars, LEVELS)
    p = 2 * stats.norm.sf(np.abs(bs[:, None] / ss[None, :]))
    return bool(((p >= lo) & (p < hi)).any())


def test_the_stars_check_agrees_with_a_brute_force_search_over_the_rounding():
    rng = np.random.default_rng(7)
    rows = []
    for i in range(300):
        se = rng.uniform(0.001, 0.01)
        b = rng.normal(0, 3) * se
        d = int(rng.integers(3, 5))
        stars = "*" * int(rng.integers(0, 4))   # any stars: some rows consistent, some not
        rows.append({"table": "1", "column": str(i), "term": "x", "estimate": f"{b:.{d}f}",
                     "stat": f"{se:.{d}f}", "stat_kind": "se", "stars": stars})
    audit = PA.audit_table(pd.DataFrame(rows), stars=LEVELS)
    found = audit.findings[audit.findings["check"] == "stars"].set_index("column")["verdict"]
    disagree = []
    for r in rows:
        if float(r["stat"]) <= 0:
            continue
        brute = _stars_possible_by_grid(r["estimate"], r["stat"], r["stars"])
        if brute != (found[r["column"]] == "consistent"):
            disagree.append(r)
    # the grid can only miss a sliver the intervals hold, never find what they exclude
    assert len(disagree) <= 3, disagree
    assert all(found[r["column"]] == "consistent" for r in disagree)
    assert 50 < (found == "inconsistent").sum() < 250


def test_correctly_starred_rounded_tables_never_fail():
    rng = np.random.default_rng(11)
    rows = []
    for i in range(200):
        se = rng.uniform(0.001, 0.02)
        t = rng.normal(0, 4)
        p = 2 * stats.norm.sf(abs(t))
        rows.append({"table": "2", "column": str(i), "term": "x", "estimate": f"{t * se:.4f}",
                     "stat": f"{t:.2f}", "stat_kind": "t",
                     "stars": "*" * sum(p < a for a in LEVELS), "n": "500", "r2": f"{rng.uniform():.3f}"})
    audit = PA.audit_table(pd.DataFrame(rows), stars=LEVELS, n_max=500)
    assert audit.inconsistencies.empty


# ------------------------------------------------------------------ known answers on the papers
def test_the_main_papers_stars_agree_with_its_statistics_in_every_row():
    s = _main_paper().summary
    assert s.loc["stars", "checked"] == 25 and s.loc["stars", "inconsistent"] == 0


def test_the_main_papers_parentheses_cannot_be_standard_errors():
    audit = _main_paper()
    bad = audit.inconsistencies[audit.inconsistencies["check"] == "parentheses as stated"]
    s = audit.summary.loc["parentheses as stated"]
    # Tables 4 and 7-13 print t-statistics: read as s.e. 16 of their 20 rows could not carry their
    # stars; the four rows without stars could (a tiny t is "not significant")
    assert (s["checked"], s["inconsistent"]) == (20, 16)
    assert set(bad["table"]) == {"4", "7", "8", "9", "10", "11", "12", "13"}
    negative = bad[bad["term"] == "Medium*CBEC"]["evidence"].iloc[0]
    assert "(-3.00) cannot be a standard error" in negative


def test_table6_counts_do_not_add_up_to_its_n():
    audit = _main_paper()
    parts = audit.inconsistencies[audit.inconsistencies["check"] == "N of the parts"]
    assert list(parts["table"]) == ["6", "6"]
    assert "3,011 treated + 305 control = 3,316; printed N = 3,360" in parts["evidence"].iloc[0]


def test_only_the_innovation_index_breaks_the_bhatia_davis_bound():
    audit = _main_paper()
    bd = audit.findings[audit.findings["check"] == "Bhatia-Davis"]
    assert bd[bd["verdict"] == "inconsistent"]["term"].tolist() == ["Inno"]
    assert "at most 0.0939; printed 0.3992" in bd[bd["term"] == "Inno"]["evidence"].iloc[0]


def test_the_treatment_dummy_passes_its_sd_and_grim_checks():
    f = _main_paper().findings.query("term == 'CBEC' and table == 'descriptives'").set_index("check")
    assert f.loc["0/1 s.d.", "verdict"] == "consistent" and f.loc["GRIM", "verdict"] == "consistent"
    assert "holds the integer 312" in f.loc["GRIM", "evidence"]


def test_grim_and_the_binary_sd_catch_impossible_means():
    rows = pd.DataFrame([{"variable": "d", "n": "10", "mean": "0.35", "sd": "0.30", "min": "0",
                          "median": "0", "max": "1"}])
    f = PA.audit_descriptives(rows).findings.set_index("check")["verdict"]
    assert f["GRIM"] == "inconsistent"           # 3.5 pilots of 10
    assert f["0/1 s.d."] == "inconsistent"       # a 0/1 variable with mean 0.35 has s.d. ≈ 0.48


def test_the_companion_paper_is_checked_only_where_it_prints_enough():
    audit = BA.audit_papers().audits["the companion paper"]
    s = audit.summary
    assert s.loc["stars", "checked"] == 0 and s.loc["stars", "not checkable"] == 6
    assert audit.inconsistencies.empty


def test_a_nesting_model_cannot_have_a_smaller_r2_on_the_same_sample():
    rows = pd.DataFrame([
        {"table": "4", "column": "2", "term": "D", "estimate": "0.1", "n": "100", "r2": "0.60"},
        {"table": "7", "column": "1", "term": "D", "estimate": "0.1", "n": "100", "r2": "0.39"},
        {"table": "7", "column": "2", "term": "D", "estimate": "0.1", "n": "90", "r2": "0.70"}])
    audit = PA.audit_table(rows, stars=None, nested={("7", "1"): ("4", "2"), ("7", "2"): ("4", "2")})
    f = audit.findings[audit.findings["check"] == "R² of a nesting model"].set_index("column")
    assert f.loc["1", "verdict"] == "inconsistent" and f.loc["2", "verdict"] == "not checkable"


# ------------------------------------------------------------------ what a reader meets
def test_a_readers_csv_is_audited_with_the_readers_conventions(tmp_path):
    path = tmp_path / "table.csv"
    pd.DataFrame([{"table": "2", "column": "1", "term": "x", "estimate": "0.46", "stat": "0.20",
                   "stars": "***", "n": "1200"},
                  {"table": "2", "column": "2", "term": "x", "estimate": "0.52", "stat": "0.20",
                   "stars": "***", "n": "1100"}]).to_csv(path, index=False)
    audits = BA.audit_papers(str(path), stars="0.10,0.05,0.01", claimed_stat="se", n_max=1150)
    audit = audits.audits["your table (table.csv)"]
    assert audits.reader and "table.csv" in audits.source
    inc = audit.inconsistencies.set_index(["column", "check"])["verdict"]
    # |t| = 2.3 (p ≈ 0.02): ** under 0.10/0.05/0.01, not ***; column 2's 2.6 earns its ***; N = 1,200 is above the stated 1,150
    assert ("1", "stars") in inc.index and ("1", "N within sample") in inc.index
    assert ("2", "N within sample") not in inc.index and ("2", "stars") not in inc.index


def test_a_cell_that_is_not_a_number_names_the_file_column_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("table,column,term,estimate,stat\n4,1,D,0.0194***,29.77\n4,2,D,0.0157,(7.81)\n")
    with pytest.raises(ValueError, match=r"bad.csv: column 'estimate' .* rows 2 "):
        PA.read_printed(path)


def test_counts_may_carry_thousands_separators_as_tables_print_them(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text('table,column,term,estimate,n\n4,1,D,0.0194,"3,360"\n4,2,D,0.0157,"12,345,678"\n')
    rows = PA.read_printed(path)
    assert list(rows["n"]) == ["3360", "12345678"]
    assert PA.audit_table(rows, stars=None, n_max=3360).inconsistencies["column"].tolist() == ["2"]


def test_a_missing_column_names_what_the_audit_needs(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("table,coef\n4,0.1\n")
    with pytest.raises(ValueError, match=r"short.csv: missing column\(s\) \['column', 'term', 'estimate'\]"):
        PA.read_printed(path)


@pytest.mark.parametrize("text", ["5%", "0.05;0.01", "1.5"])
def test_stars_levels_that_are_not_levels_say_how_to_write_them(text):
    with pytest.raises(ValueError, match="stars = "):
        BA.parse_stars(text)


# ------------------------------------------------------------------ the page's words
def test_the_reading_names_each_failing_check_with_its_evidence_and_the_passing_ones():
    text = BA.reading(_main_paper(), "the main paper")
    assert text.startswith("In the main paper, **parentheses as stated** fails in 16 of 20 rows")
    assert "**N of the parts** fails in 2 of 2 rows" in text and "**Bhatia-Davis** fails in 1 of 10" in text
    assert "*Stars*, *N within sample*, *one N per column*" in text
    assert "hold in every row checked" in text and "Not checkable from what is printed: *R² kind stated*" in text


def test_the_reading_of_tables_with_nothing_checkable_says_so():
    empty = PA.audit_table(pd.DataFrame([{"table": "1", "column": "1", "term": "x", "estimate": "0.3"}]),
                           stars=None)
    assert BA.reading(empty, "your table").startswith("Nothing in your table can be checked")


def test_every_check_is_explained_on_the_page():
    checks = set(pd.concat([a.findings for a in BA.audit_papers().audits.values()])["check"])
    assert checks <= set(PA.CHECKS)


def test_the_printed_rows_keep_their_trailing_zeros():
    rows = published.printed_rows("published_estimates", "cbec")
    assert rows.loc[rows["column"] == "3", "r2"].iloc[0] == "0.6350"
    assert list(itertools.islice(rows["n_treated"].replace("", None).dropna(), 1)) == ["3011"]

"""lib.present.tables: exact cell strings, notes, files and HTML of the one table formatter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import lib
from lib.present import tables
from lib.methods.results import RegressionResult
from lib.present.tables import (Table, comparison_row, comparison_table, descriptive_table, format_number,
                        format_stat, frame_table, regression_table)


def make_result(params, se, **kw) -> RegressionResult:
    p, s = pd.Series(params, dtype=float), pd.Series(se, dtype=float)
    cov = pd.DataFrame(np.diag(s.to_numpy() ** 2), index=p.index, columns=p.index)
    return RegressionResult(params=p, std_errors=s, cov=cov, **kw)


@pytest.fixture
def two_models():
    r1 = make_result({"CBEC": 0.0194, "lnpop": -0.0123}, {"CBEC": 0.0194 / 29.77, "lnpop": 0.01},
                     nobs=3360, dof_resid=None, r2=0.5717, r2_kind="within",
                     fixed_effects=("city", "year"), controls=False,
                     vcov="CRV1 by city (280 clusters)")
    r2 = make_result({"CBEC": 0.0157}, {"CBEC": 0.0157 / 7.81}, nobs=3316, dof_resid=None,
                     r2=0.6432, r2_kind="within", fixed_effects=("city",), controls=True,
                     vcov="CRV1 by city (280 clusters)")
    return {"(1)": r1, "(2)": r2}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("CBEC_BOOK_OUTPUTS", str(tmp_path / "out"))
    return tmp_path / "out"


# ----------------------------------------------------------------------------- helpers
@pytest.mark.parametrize("x, digits, expected", [
    (0.0157, 4, "0.0157"),
    (-0.00438, 4, "-0.0044"),
    (-0.00001, 4, "0.0000"),        # negative zero after rounding
    (-0.0, 2, "0.00"),
    (3316, 4, "3,316"),             # integers: thousands separator, no decimals
    (np.int64(1234567), 4, "1,234,567"),
    (12345.678, 1, "12,345.7"),
    (float("nan"), 4, ""),
    (None, 4, ""),
    (pd.NA, 4, ""),
    ("Yes", 4, "Yes"),
    (True, 4, "Yes"),
    (0, 4, "0"),
])
def test_format_number(x, digits, expected):
    assert format_number(x, digits) == expected


def test_format_number_sign():
    assert format_number(0.0007, 4, sign=True) == "+0.0007"
    assert format_number(-0.0007, 4, sign=True) == "-0.0007"
    assert format_number(0.00001, 4, sign=True) == "0.0000"


def test_format_stat():
    assert format_stat(7.8123, "t") == "(7.81)"
    assert format_stat(-3.0, "t") == "(-3.00)"
    assert format_stat(0.0025, "se") == "(0.0025)"
    assert format_stat(0.0025, "se", digits=3) == "(0.003)"
    assert format_stat(0.04567, "p") == "(0.046)"
    assert format_stat(float("nan"), "t") == ""
    with pytest.raises(ValueError, match="kind"):
        format_stat(1.0, "x")


def test_star_legend():
    assert tables.star_legend() == "* p<0.10, ** p<0.05, *** p<0.01"
    assert tables.star_legend((0.05, 0.01, 0.001)) == "* p<0.05, ** p<0.01, *** p<0.001"


# ----------------------------------------------------------------------------- regression_table
def test_regression_table_cells(two_models):
    t = regression_table(two_models, keep=["CBEC", "lnpop"], labels={"CBEC": "CBEC pilot"},
                         title="Table 4. Baseline")
    f = t.frame
    assert list(f.columns) == ["(1)", "(2)"]
    assert list(f.index) == ["CBEC pilot", "", "lnpop", "", "Controls", "City FE", "Year FE",
                             "N", "R² (within)"]
    assert f.iloc[0].tolist() == ["0.0194***", "0.0157***"]
    assert f.iloc[1].tolist() == ["(29.77)", "(7.81)"]
    assert f.iloc[2].tolist() == ["-0.0123", ""]        # absent from model 2: empty
    assert f.iloc[3].tolist() == ["(-1.23)", ""]
    assert f.loc["Controls"].tolist() == ["No", "Yes"]
    assert f.loc["City FE"].tolist() == ["Yes", "Yes"]
    assert f.loc["Year FE"].tolist() == ["Yes", "No"]
    assert f.loc["N"].tolist() == ["3,360", "3,316"]
    assert f.loc["R² (within)"].tolist() == ["0.5717", "0.6432"]
    assert t.notes[0] == ("* p<0.10, ** p<0.05, *** p<0.01; z-statistics in parentheses; "
                          "inference: CRV1 by city (280 clusters)")
    assert t.rules == (4,)
    assert set(t.data["model"]) == {"(1)", "(2)"}


@pytest.mark.parametrize("t, stars", [
    (1.64, ""), (1.65, "*"),     # p = 0.101 / 0.099
    (1.95, "*"), (1.96, "**"),   # p = 0.0512 / 0.04999
    (2.57, "**"), (2.58, "***"),  # p = 0.0102 / 0.00988
    (-2.58, "***"),
])
def test_stars_at_thresholds(t, stars):
    r = make_result({"x": t}, {"x": 1.0}, nobs=100, dof_resid=None)
    cell = regression_table({"m": r}, stats=()).frame.iloc[0, 0]
    assert cell == format_number(t, 4) + stars


def test_stars_use_t_distribution_when_dof_given():
    r = make_result({"x": 2.0}, {"x": 1.0}, nobs=30, dof_resid=5)  # p(t_5 > 2) two-sided = 0.102
    assert regression_table({"m": r}, stats=()).frame.iloc[0, 0] == "2.0000"
    r = make_result({"x": 2.0}, {"x": 1.0}, nobs=30, dof_resid=None)  # normal: p = 0.0455
    assert regression_table({"m": r}, stats=()).frame.iloc[0, 0] == "2.0000**"


def test_se_in_parentheses_and_options(two_models):
    t = regression_table(two_models, keep=["CBEC"], stat="se", stars=None, digits=3,
                         fe_rows={"city": "City FE (280)"}, controls_row=False,
                         stats=("N", "R2", "dropped"), extra_rows={"Clusters": {"(1)": 280, "(2)": 279}},
                         notes="Dependent variable: Inno.")
    f = t.frame
    assert f.iloc[0].tolist() == ["0.019", "0.016"]
    assert f.iloc[1].tolist() == ["(0.001)", "(0.002)"]
    assert "Controls" not in f.index and "Year FE" not in f.index
    assert f.loc["City FE (280)"].tolist() == ["Yes", "Yes"]
    assert f.loc["N dropped"].tolist() == ["0", "0"]
    assert f.loc["Clusters"].tolist() == ["280", "279"]
    assert t.notes == ["standard errors in parentheses; inference: CRV1 by city (280 clusters)",
                       "Dependent variable: Inno."]


def test_mixed_r2_kinds_and_t_wording():
    a = make_result({"x": 1.0}, {"x": 0.5}, nobs=10, dof_resid=9, r2=0.5, r2_kind="within", vcov="HC1")
    b = make_result({"x": 1.0}, {"x": 0.5}, nobs=10, dof_resid=None, r2=0.25, r2_kind="pseudo",
                    vcov="")
    t = regression_table({"OLS": a, "Probit": b}, fe_rows=False)
    assert t.frame.loc["R²"].tolist() == ["0.5000 (within)", "0.2500 (pseudo)"]
    assert "t-statistics in parentheses" in t.notes[0]
    assert "OLS HC1; Probit n/a" in t.notes[0]


def test_regression_table_errors(two_models):
    with pytest.raises(KeyError, match="terms available"):
        regression_table(two_models, keep=["nope"])
    with pytest.raises(KeyError, match="extra_rows"):
        regression_table(two_models, stats=("N", "n_clusters"))
    with pytest.raises(KeyError, match="not columns"):
        regression_table(two_models, extra_rows={"x": {"(3)": 1}})
    with pytest.raises(ValueError, match="stat must be"):
        regression_table(two_models, stat="p")
    with pytest.raises(TypeError, match="RegressionResult"):
        regression_table({"a": "b"})


def test_stats_from_extra():
    r = make_result({"x": 1.0}, {"x": 0.5}, nobs=10, extra={"n_clusters": 280})
    assert regression_table({"m": r}, stats=("n_clusters",)).frame.loc["n_clusters"].tolist() == ["280"]


# ----------------------------------------------------------------------------- comparison_table
def test_comparison_table_differences_and_nan():
    rows = [
        {"quantity": "Table 4 (2): CBEC", "paper": 0.0157, "paper_stat": "t = 7.81",
         "book": 0.0162, "book_se": 0.0020, "book_p": 0.0004, "truth": 0.0150},
        {"quantity": "Placebo", "paper": float("nan"), "paper_stat": "", "book": -0.0011,
         "book_se": 0.0010, "book_p": 0.27, "truth": 0.0},
        {"quantity": "Real data", "paper": 0.0102, "book": 0.0090, "book_se": 0.003,
         "truth": float("nan")},
    ]
    t = comparison_table(rows, title="Baseline: paper, book, truth")
    # what a reader compares stays in view; the statistic and book - paper are collapsed below
    assert list(t.frame.columns) == ["Paper", "Book", "Book s.e.", "Truth", "Book − truth"]
    assert list(t.details.columns) == ["Paper stat", "Book − paper"]
    assert t.details_title == "More columns: the paper's statistic, book − paper"
    assert '<details class="book-table-details"><summary>More columns' in t.to_html()
    f = t.full_frame
    assert list(f.columns) == ["Paper", "Book", "Book s.e.", "Truth", "Book − truth", "Paper stat",
                               "Book − paper"]
    assert f.loc["Table 4 (2): CBEC"].tolist() == ["0.0157", "0.0162***", "0.0020", "0.0150",
                                                   "+0.0012", "t = 7.81", "+0.0005"]
    assert f.loc["Placebo"].tolist() == ["", "-0.0011", "0.0010", "0.0000", "-0.0011", "", ""]
    # no book_p: stars from the normal approximation (z = 3, p = 0.0027), said in the note
    assert f.loc["Real data", "Book"] == "0.0090***"
    assert f.loc["Real data", "Truth"] == "" and f.loc["Real data", "Book − paper"] == "-0.0012"
    assert t.notes[0] == tables.COMPARISON_NOTE
    assert "normal approximation" in t.notes[1]
    assert math.isclose(t.data.loc["Table 4 (2): CBEC", "book_minus_truth"], 0.0012)
    assert math.isnan(t.data.loc["Placebo", "book_minus_paper"])


def test_comparison_row_from_result_and_published():
    from lib.data.published import published_estimate

    r = make_result({"CBEC": 0.0160}, {"CBEC": 0.0020}, nobs=3316, dof_resid=279)
    row = comparison_row("T4 (2)", r, "CBEC", paper=published_estimate("cbec", 4, 2, "CBEC"),
                         truth=0.015)
    assert row["book_n"] == 3316 and row["paper_stat"] == "t = 7.81"
    t = comparison_table([row])
    f = t.full_frame
    assert list(f.columns) == ["Paper", "Book", "Book s.e.", "Truth", "Book − truth", "Paper stat",
                               "Paper N", "Book N", "Book − paper"]
    assert f.iloc[0].tolist() == ["0.0157***", "0.0160***", "0.0020", "0.0150", "+0.0010",
                                  "t = 7.81", "3,316", "3,316", "+0.0003"]
    assert "paper's convention: * p<0.05, ** p<0.01, *** p<0.001" in t.notes[1]
    # printed strings survive: trailing zeros and as-printed small numbers
    r9 = comparison_row("T8", paper=published_estimate("cbec", 8, 1, "Second*CBEC"), book=0.001)
    r6 = comparison_row("T6", paper=published_estimate("cbec", 6, "nn5", "ATT"), book=0.007,
                        book_se=0.003)
    f = comparison_table([r9, r6]).full_frame
    assert f.loc["T8", "Paper"] == "0.00162" and f.loc["T8", "Paper stat"] == "t = 0.67"
    assert f.loc["T6", "Paper"] == "0.0069*" and f.loc["T6", "Paper stat"] == "s.e. = 0.0030"


def test_comparison_table_accepts_frame():
    df = pd.DataFrame({"paper": [1.0], "book": [1.5], "book_se": [0.1], "truth": [1.0]},
                      index=pd.Index(["a"], name="quantity"))
    assert comparison_table(df).frame.loc["a", "Book − truth"] == "+0.5000"


# ----------------------------------------------------------------------------- descriptive / frame
def test_descriptive_table():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.5, np.nan], "b": [0, 0, 1, 1]})
    t = descriptive_table(df, ["a", "b"], labels={"a": "Alpha"})
    assert list(t.frame.columns) == ["N", "Mean", "S.D.", "Min", "Median", "Max"]
    assert t.frame.loc["Alpha"].tolist() == ["3", "2.1667", "1.2583", "1.0000", "2.0000", "3.5000"]
    assert t.frame.loc["b", "N"] == "4"
    with pytest.raises(KeyError, match=r"\['zz'\]"):
        descriptive_table(df, ["zz"])


def test_frame_table():
    df = pd.DataFrame({"n": [3316, 12], "x": [0.12345, np.nan], "s": ["yes", None]},
                      index=pd.Index(["r1", "r2"], name="row"))
    t = frame_table(df, title="T", notes="n.", float_format={"x": "{:.2f}"})
    assert t.frame.loc["r1"].tolist() == ["3,316", "0.12", "yes"]
    assert t.frame.loc["r2"].tolist() == ["12", "", ""]
    assert t.frame.index.name == "row"
    mi = df.set_index([pd.Index(["a", "b"], name="v"), pd.Index(["m", "u"], name="sample")])
    assert list(frame_table(mi).frame.index) == ["a, m", "b, u"]


# ----------------------------------------------------------------------------- files and HTML
def test_save_csv_latex_roundtrip(two_models, outputs):
    t = regression_table(two_models, keep=["CBEC"], title="Table 4 & more_stuff 50%")
    assert t.save("table4_baseline") is t
    csv, tex = outputs / "tables" / "table4_baseline.csv", outputs / "tables" / "table4_baseline.tex"
    assert csv.exists() and tex.exists()
    back = pd.read_csv(csv, keep_default_na=False)
    # numbers, not display strings: the long frame, one row per model and term
    assert list(back.columns) == ["model", "term", "estimate", "std_error", "t", "p", "stars", "nobs",
                                  "r2", "r2_kind", "vcov"]
    pd.testing.assert_frame_equal(back, t.data.fillna(""), check_dtype=False, rtol=1e-12)
    assert back["nobs"].dtype.kind == "i" and back["estimate"].dtype.kind == "f"
    text = tex.read_text()
    for token in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lcc}",
                  "\\caption{Table 4 \\& more\\_stuff 50\\%}", "\\label{tab:table4_baseline}",
                  "0.0194$^{***}$", "R$^2$ (within)", "\\begin{tablenotes}", "3,360"):
        assert token in text
    assert text.count("\\begin{") == text.count("\\end{")


def test_latex_negative_numbers():
    r = make_result({"x": -0.5}, {"x": 0.1}, nobs=10)
    text = regression_table({"m": r}, stats=()).to_latex()
    assert "$-$0.5000$^{***}$" in text and "($-$5.00)" in text


def test_html_caption_and_links_only_after_save(two_models, outputs):
    t = regression_table(two_models, keep=["CBEC"], title="Table 4 <baseline>")
    html = t._repr_html_()
    assert '<table class="book-table book-table-regression">' in html
    assert "<caption>Table 4 &lt;baseline&gt;</caption>" in html
    assert 'class="book-table-notes"' in html and "p&lt;0.10" in html
    assert "Download" not in html
    t.save("t4")
    html = t._repr_html_()
    assert ('Download: <a href="../_static/tables/t4.csv">CSV</a> · '
            '<a href="../_static/tables/t4.tex">LaTeX</a>') in html
    assert t.to_html() in html and "Download" not in t.to_html()


def test_links_follow_location_under_outputs(two_models, tmp_path, monkeypatch):
    monkeypatch.setattr(lib, "BOOK_OUTPUTS", tmp_path / "outputs")
    t = regression_table(two_models).save("t4", directory=tmp_path / "outputs" / "runs" / "r1" / "tables")
    assert t.download_links() == {"csv": "../_static/runs/r1/tables/t4.csv",
                                  "tex": "../_static/runs/r1/tables/t4.tex"}


def test_save_rejects_bad_names(two_models, outputs):
    with pytest.raises(ValueError, match="file stem"):
        regression_table(two_models).save("../evil")


def test_table_repr_and_notes_string():
    t = Table(frame=pd.DataFrame({"a": [1.5]}, index=["r"]), title="T", notes="one note")
    assert t.notes == ["one note"]
    assert t.frame.loc["r", "a"] == "1.5"
    assert "Notes: one note." in repr(t)


def test_sample_table_reports_n_drops_and_reasons():
    import pandas as pd

    from lib.methods.results import RegressionResult
    from lib.present.tables import sample_table

    def res(n, dropped, reasons, g):
        p = pd.Series({"CBEC": 0.01})
        return RegressionResult(params=p, std_errors=p / 2, cov=pd.DataFrame([[1e-4]], ["CBEC"], ["CBEC"]),
                                nobs=n, n_dropped=dropped, drop_reasons=reasons, extra={"n_clusters": g})

    t = sample_table({"(1)": res(3360, 0, {}, 280), "(2)": res(3316, 44, {"lnaca": 9, "Urban": 35}, 280)})
    assert list(t.frame.loc["(2)"]) == ["3,316", "44", "lnaca: 9, Urban: 35", "280"]
    assert t.frame.loc["(1)", "why"] == "none"


def test_comparison_table_drops_the_paper_and_truth_columns_nobody_filled():
    reader = comparison_table([comparison_row("a", book=0.5, book_se=0.1), comparison_row("b", book=0.2)])
    assert list(reader.frame.columns) == ["Book", "Book s.e."]
    assert "paper stars" not in " ".join(reader.notes)
    half = comparison_table([comparison_row("a", book=0.5, truth=0.4), comparison_row("b", book=0.2)])
    assert list(half.frame.columns) == ["Book", "Book s.e.", "Truth", "Book − truth"]


def test_a_comparison_tables_csv_holds_numbers_and_says_what_they_were_computed_on(tmp_path):
    from lib.present import provenance
    from lib.present.tables import comparison_row

    rows = [comparison_row("ATT", book=0.0105, book_se=0.0031, book_p=0.0007, truth=0.0100,
                           paper={"estimate": 0.0157, "stars": "***", "stat_kind": "t", "stat": 7.81,
                                  "n": 3360}),
            comparison_row("Placebo", book=-0.0012, book_se=0.0020, truth=0.0)]
    t = comparison_table(rows)
    assert t.frame.loc["ATT", "Book"] == "0.0105***"  # the page's view is formatted ...
    provenance.declare(provenance.semi_synthetic("a semi-synthetic city panel (seed 7)"))
    try:
        back = pd.read_csv(t.save("cmp", tmp_path).paths["csv"])
    finally:
        provenance.declare(None)
    # ... the file holds the numbers, the stars beside them
    assert back.loc[0, "book"] == 0.0105 and back.loc[0, "book_stars"] == "***"
    assert back["paper"].isna().tolist() == [False, True] and back.loc[0, "paper_stat"] == "t = 7.81"
    assert back.loc[0, "paper"] == 0.0157 and back.loc[0, "paper_n"] == 3360
    assert back.loc[1, "book_minus_truth"] == pytest.approx(-0.0012)
    assert back["data"].str.startswith("a semi-synthetic city panel (seed 7)").all()
    assert back["data"].str.endswith("not data about China").all()
    # on a reader's panel: no paper, no truth, and no empty columns for them
    reader = comparison_table([comparison_row("ATT", book=0.02, book_se=0.01)])
    back = pd.read_csv(reader.save("r", tmp_path, source=provenance.readers("my.csv")).paths["csv"])
    assert list(back.columns) == ["quantity", "book", "book_se", "book_p", "book_stars", "data"]
    assert back.loc[0, "data"] == "the reader's panel my.csv"
    assert "data" not in pd.read_csv(reader.save("n", tmp_path, source=None).paths["csv"]).columns


def test_a_frame_tables_csv_holds_its_frame_and_row_labels(tmp_path):
    df = pd.DataFrame({"n": [3316, 12], "share": [0.5, 0.25]}, index=pd.Index(["a", "b"], name="group"))
    back = pd.read_csv(frame_table(df).save("f", tmp_path, source="real facts").paths["csv"])
    assert back.to_dict("list") == {"group": ["a", "b"], "n": [3316, 12], "share": [0.5, 0.25],
                                    "data": ["real facts", "real facts"]}

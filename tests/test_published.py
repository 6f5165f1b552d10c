"""lib.data.published: the printed numbers load exactly as printed."""

from __future__ import annotations

import pytest

from lib.data import published


def test_table4_col2_exact():
    e = published.published_estimate("cbec", 4, 2, "CBEC")
    assert e["estimate"] == 0.0157 and e["stat"] == 7.81 and e["stat_kind"] == "t"
    assert e["stars"] == "***" and e["n"] == 3316 and e["r2"] == 0.6432
    assert isinstance(e["n"], int)
    assert e["estimate_printed"] == "0.0157"


def test_other_known_values():
    assert published.published_estimate("cbec", "6", "kernel", "ATT")["stat"] == 0.0025
    assert published.published_estimate("cbec", 6, "nn5", "ATT")["stat_printed"] == "0.0030"
    assert published.published_estimate("cbec", 9, 2, "Medium*CBEC")["estimate"] == -0.00438
    sobel = published.published_estimate("cbec", 11, 1, "SobelZ")
    assert sobel["estimate"] == 16.39 and sobel["stat"] is None and sobel["r2"] is None
    fdi = published.published_estimate("fdi", "text", "baseline", "DT")
    assert fdi["estimate"] == 0.731 and fdi["stars"] == "p<0.01" and fdi["n"] is None


def test_missing_estimate_lists_rows():
    with pytest.raises(KeyError, match=r"3 rows available: \(table=4, column=1, term=CBEC\)"):
        published.published_estimate("cbec", 4, 5, "CBEC")
    with pytest.raises(KeyError, match="tables"):
        published.published_estimates("cbec", table=99)
    with pytest.raises(KeyError, match="paper must be"):
        published.published_estimates("nope")


def test_estimates_frame():
    t4 = published.published_estimates("cbec", table=4)
    assert t4["column"].tolist() == ["1", "2", "3"]
    assert t4["n"].tolist() == [3360, 3316, 3269]
    assert str(t4["n"].dtype) == "Int64"
    assert len(published.published_estimates("fdi")) == 6


def test_descriptives_and_impossible_sd():
    d = published.published_descriptives()
    assert d.loc["Inno", "sd"] == 0.3992 and d.loc["Inno", "mean"] == 0.0088
    assert d.loc["lnaca", "n"] == 3351 and d.loc["Infra", "sd"] == 7.463
    assert list(published.published_descriptives("fdi").index) == ["FDI", "DT"]


def test_balance_themes_trade():
    b = published.published_balance()
    row = b[(b["variable"] == "lngdp") & (b["sample"] == "matched")].iloc[0]
    assert row["t"] == 3.36 and row["p"] == 0.001 and row["std_bias"] == 31.0
    assert len(b) == 16
    th = published.policy_themes()
    assert th.set_index("theme").loc["Business environment", "frequency_pct"] == 2.57
    g = published.global_digital_trade()
    assert g.loc[2023, "digital_delivery_export_tn_usd"] == 4.2504
    assert list(g.index) == [2019, 2020, 2021, 2022, 2023]


def test_reads_only_the_repository_copy():
    assert published.PAPER_DIR.is_relative_to(published.DATA)
    assert "shared" not in published.PAPER_DIR.parts

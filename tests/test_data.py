"""The data contract: formats, column mapping, every validation error, model_frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from fixtures.panels import CONTROLS, MEDIATORS, make_panel, write, write_all
from lib.data import (CITY_PANEL, DEFAULT_PANEL, DataContractError, Panel, PanelSpec, load_panel,
                      model_frame, read_table, validate_panel)

BEIJING_2012 = "city_id=110000, year=2012"


@pytest.fixture
def panel_df() -> pd.DataFrame:
    return make_panel()


@pytest.fixture
def reference(panel_df) -> Panel:
    return validate_panel(panel_df)


def _csv(df: pd.DataFrame, tmp_path, name="panel.csv"):
    return write(df, tmp_path / name)


def _raises(path, *fragments, **kwargs) -> DataContractError:
    """Load ``path`` expecting a DataContractError whose message holds every fragment."""
    with pytest.raises(DataContractError) as info:
        load_panel(path, **kwargs)
    msg = str(info.value)
    for frag in (path.name, *fragments):
        assert frag in msg, f"{frag!r} not in message:\n{msg}"
    assert "Fix:" in msg
    return info.value


# ------------------------------------------------------------------ formats and spec
def test_city_panel_spec_is_canonical():
    assert (CITY_PANEL.unit, CITY_PANEL.time, CITY_PANEL.outcome) == ("city_id", "year", "Inno")
    assert (CITY_PANEL.treatment, CITY_PANEL.adoption, CITY_PANEL.cluster) == ("CBEC", "adoption_year", "city_id")
    assert CITY_PANEL.controls == CONTROLS and CITY_PANEL.mediators == MEDIATORS
    assert "region" in CITY_PANEL.groups and "is_municipality" in CITY_PANEL.groups
    assert DEFAULT_PANEL.name == "cbec_city_panel.csv"
    with pytest.raises(DataContractError, match="treatment dummy or an adoption year"):
        PanelSpec(treatment=None, adoption=None)


def test_four_formats_give_identical_canonical_frames(tmp_path, panel_df, reference):
    paths = write_all(panel_df, tmp_path)
    for suffix, path in paths.items():
        panel = load_panel(path)
        pd.testing.assert_frame_equal(panel.data, reference.data, obj=suffix)
        assert panel.source == str(path) and panel.report["format"] in ("csv", "stata", "parquet", "excel")
    r = reference.report
    assert (r["rows_read"], r["rows"], r["units"], r["n_periods"]) == (30, 30, 6, 5)
    assert r["periods"] == [2010, 2011, 2012, 2013, 2014] and r["balanced"] is True
    assert r["missing"]["lnaca"] == 2 and r["missing"]["Spec"] == 2 and r["missing"]["Inno"] == 0
    assert r["cohorts"] == {2011: 1, 2012: 1, 2013: 1, 2014: 1} and r["treated_units"] == 4
    d = reference.data
    assert d["city_id"].is_monotonic_increasing and d["is_municipality"].dtype == bool
    assert str(d["adoption_year"].dtype) == "Int64" and d["CBEC"].dtype == "int64"


def test_unbalanced_panel_is_reported(panel_df):
    panel = validate_panel(panel_df.drop(index=[0]))
    assert panel.report["balanced"] is False and panel.report["rows"] == 29
    assert "item" in panel.describe().columns


def _reader_file(panel_df, tmp_path):
    """The fixture with a reader's own names and only the adoption year."""
    df = panel_df.drop(columns=["CBEC"]).rename(columns={
        "city_id": "code", "year": "yr", "Inno": "patents_index", "adoption_year": "pilot_year",
        "lnpop": "log_pop", "region": "area"})
    return write(df, tmp_path / "reader.dta")


def test_column_mapping_from_dict(tmp_path, panel_df, reference):
    path = _reader_file(panel_df, tmp_path)
    mapping = {"unit": "code", "time": "yr", "outcome": "patents_index", "adoption": "pilot_year",
               "book_roles": True, "columns": {"log_pop": "lnpop", "area": "region"}}
    panel = load_panel(path, columns=mapping)
    pd.testing.assert_frame_equal(panel.data[reference.data.columns], reference.data)
    assert panel.spec.unit == "city_id" and panel.spec.controls == CONTROLS
    # without book_roles, a reader's panel has only the controls and mediators it names
    own = load_panel(path, columns={k: v for k, v in mapping.items() if k != "book_roles"})
    assert own.spec.controls == () and own.spec.mediators == () and not own.spec.paper_panel
    # the ever-treated flag is derived too when the file has none
    assert panel.report["derived"] == ["CBEC", "treated"] and panel.report["renamed"]["code"] == "city_id"
    # the same through a PanelSpec
    spec = PanelSpec.from_mapping(mapping)
    assert spec.treatment is None and spec.cluster == "code" and spec.controls == CONTROLS
    pd.testing.assert_frame_equal(load_panel(path, spec=spec).data, panel.data)


def test_column_mapping_from_yaml(tmp_path, panel_df, reference):
    path = _reader_file(panel_df, tmp_path)
    yml = tmp_path / "my_columns.yml"
    yml.write_text("unit: code\ntime: yr\noutcome: patents_index\nadoption: pilot_year\n"
                   "controls: [log_pop, lnaca, lngdp, Infra, lngov, lninter, Urban, Incoms]\n"
                   "columns:\n  log_pop: lnpop\n  area: region\n", encoding="utf-8")
    panel = load_panel(path, columns=yml)
    pd.testing.assert_frame_equal(panel.data[reference.data.columns], reference.data)
    assert PanelSpec.from_yaml(yml).unit == "code"
    # a flat rename map works too
    flat = tmp_path / "flat.yml"
    flat.write_text(yaml.safe_dump({"code": "city_id", "yr": "year", "patents_index": "Inno",
                                    "pilot_year": "adoption_year", "log_pop": "lnpop", "area": "region"}))
    panel2 = load_panel(path, spec=PanelSpec.from_mapping({"adoption": "adoption_year"}), columns=flat)
    pd.testing.assert_frame_equal(panel2.data[reference.data.columns], reference.data)


def test_spec_unknown_key_suggests(tmp_path):
    yml = tmp_path / "cols.yml"
    yml.write_text("unit: code\ncontrol: [a, b]\n")
    with pytest.raises(DataContractError, match="did you mean 'controls'") as info:
        PanelSpec.from_yaml(yml)
    assert "cols.yml" in str(info.value)


def test_adoption_derived_from_dummy(panel_df, reference):
    spec = PanelSpec.from_mapping({"treatment": "CBEC"})
    panel = validate_panel(panel_df.drop(columns=["adoption_year"]), spec=spec)
    pd.testing.assert_frame_equal(panel.data[reference.data.columns], reference.data)
    assert panel.report["derived"] == ["adoption_year", "treated"]
    assert (panel.data.groupby("city_id")["treated"].first()
            == panel.data.groupby("city_id")["adoption_year"].first().notna()).all()


def test_adoption_after_window_is_never_treated(panel_df):
    df = panel_df.copy()
    df.loc[df.city_id == 210300, "adoption_year"] = 2016
    panel = validate_panel(df)
    assert panel.report["adopted_after_window"] == 1
    assert panel.data.loc[panel.data.city_id == 210300, "adoption_year"].isna().all()
    assert any("after the last period" in n for n in panel.report["notes"])


# ------------------------------------------------------------------ error cases
def test_file_not_found(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataContractError, match="not found") as info:
        load_panel(path)
    assert "nope.csv" in str(info.value) and info.value.file == str(path)


def test_unsupported_format(tmp_path):
    path = tmp_path / "panel.sav"
    path.write_text("x")
    with pytest.raises(DataContractError, match=r"unsupported file type '\.sav'.*\.csv.*\.dta.*\.parquet.*\.xlsx"):
        load_panel(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(DataContractError, match="broken.parquet: could not be read as a parquet file"):
        read_table(path)


def test_unknown_excel_sheet(tmp_path, panel_df):
    path = write(panel_df, tmp_path / "book.xlsx")
    with pytest.raises(DataContractError, match="no sheet 'Data'.*'Sheet1'"):
        load_panel(path, sheet="Data")


def test_missing_column_suggests_close_match(tmp_path, panel_df):
    path = _csv(panel_df.rename(columns={"Inno": "inno", "lngov": "ln_gov"}), tmp_path)
    err = _raises(path, "'Inno' (outcome) not found", "did you mean 'inno'", "'lngov' (control)", "'ln_gov'")
    assert err.column == "Inno"


def test_map_key_absent_from_file(tmp_path, panel_df):
    path = _csv(panel_df, tmp_path)
    _raises(path, "column 'pop_log'", "'lnpop'", columns={"pop_log": "lnpop"})


def test_two_columns_mapped_to_one_name(tmp_path, panel_df):
    path = _csv(panel_df.assign(pilot=panel_df["CBEC"]), tmp_path)
    _raises(path, "'CBEC'", "'pilot'", columns={"treatment": "pilot"})


def test_duplicate_unit_time(tmp_path, panel_df):
    df = pd.concat([panel_df, panel_df.iloc[[2]]])
    _raises(_csv(df, tmp_path), "column 'city_id'", "duplicate", "2 rows", BEIJING_2012)


def test_non_numeric_values(tmp_path, panel_df):
    df = panel_df.astype({"lnpop": object})
    df.loc[2, "lnpop"] = "1,234"
    df.loc[3, "lnpop"] = "abc"
    err = _raises(_csv(df, tmp_path), "column 'lnpop' (control)", "'1,234'", "'abc'", "2 rows", BEIJING_2012)
    assert err.n_rows == 2 and err.rows[0] == (110000, 2012)


def test_treatment_not_binary(tmp_path, panel_df):
    df = panel_df.copy()
    df.loc[2, "CBEC"] = 2
    _raises(_csv(df, tmp_path), "column 'CBEC' (treatment)", "not 0/1", BEIJING_2012)


def test_treatment_switches_off(tmp_path, panel_df):
    df = panel_df.copy()
    df.loc[3, "CBEC"] = 0  # Beijing: 0 0 1 0 1
    df = df.drop(columns=["adoption_year"])
    err = _raises(_csv(df, tmp_path), "column 'CBEC'", "switches off", "city_id=110000, year=2013",
                  spec=PanelSpec.from_mapping({"treatment": "CBEC"}))
    assert err.n_rows == 1


def test_treatment_disagrees_with_adoption(tmp_path, panel_df):
    df = panel_df.copy()
    df.loc[df.city_id == 110000, "adoption_year"] = 2013
    _raises(_csv(df, tmp_path), "column 'CBEC'", "disagrees", "'adoption_year'", BEIJING_2012)


def test_adoption_varies_within_unit(tmp_path, panel_df):
    df = panel_df.drop(columns=["CBEC"])
    df.loc[4, "adoption_year"] = 2013
    _raises(_csv(df, tmp_path), "column 'adoption_year'", "differs", "city_id=110000",
            spec=PanelSpec.from_mapping({"adoption": "adoption_year"}))


def test_always_treated_raises_or_is_flagged(tmp_path, panel_df):
    df = panel_df.copy()
    df.loc[df.city_id == 110000, "adoption_year"] = 2008
    df.loc[df.city_id == 110000, "CBEC"] = 1
    path = _csv(df, tmp_path)
    _raises(path, "column 'adoption_year'", "first observed period", "city_id=110000, year=2010",
            "allow_always_treated=True")
    panel = load_panel(path, allow_always_treated=True)
    assert panel.report["always_treated"] == ["110000"]


def test_missing_outcome_raises_or_is_dropped_and_counted(tmp_path, panel_df):
    df = panel_df.copy()
    df.loc[[2, 9], "Inno"] = np.nan
    path = _csv(df, tmp_path)
    _raises(path, "column 'Inno' (outcome)", "missing outcome", "2 rows", BEIJING_2012)
    panel = load_panel(path, drop_missing_outcome=True)
    assert panel.report["dropped_missing_outcome"] == 2 and panel.report["rows"] == 28
    assert panel.report["balanced"] is False and any("2 rows" in n for n in panel.report["notes"])


def test_unit_observed_once(tmp_path, panel_df):
    df = pd.concat([panel_df, panel_df.iloc[[25]].assign(city_id=999999, year=2012)])
    path = _csv(df, tmp_path)
    _raises(path, "column 'city_id'", "one period only", "city_id=999999, year=2012")
    assert load_panel(path, drop_singletons=True).report["units"] == 6


def test_empty_after_filters(tmp_path, panel_df):
    path = _csv(panel_df.assign(Inno=np.nan), tmp_path)
    _raises(path, "column 'Inno'", "empty", "30 rows", "city_id=110000, year=2010", drop_missing_outcome=True)


def test_messages_use_the_readers_names(tmp_path, panel_df):
    df = panel_df.rename(columns={"city_id": "code", "year": "yr"})
    df.loc[2, "CBEC"] = 5
    with pytest.raises(DataContractError) as info:
        load_panel(_csv(df, tmp_path), columns={"unit": "code", "time": "yr"})
    assert "code=110000, yr=2012" in str(info.value)


# ------------------------------------------------------------------ model_frame
def test_model_frame_counts_drops(reference):
    cols = ["Inno", "CBEC", "lnaca", "Urban", "Spec", "city_id", "year", "lnaca"]
    frame, dropped = model_frame(reference, cols, spec_name="t3 c1")
    # lnaca missing in rows 1 and 7, Urban in 2, Spec in 3 and 7 (7 counted under lnaca)
    assert dropped == {"Inno": 0, "CBEC": 0, "lnaca": 2, "Urban": 1, "Spec": 1, "city_id": 0, "year": 0,
                       "total": 4}
    assert list(frame.columns) == cols[:-1] and len(frame) == 26
    assert frame.notna().all().all() and list(frame.index[:2]) == [0, 4]


def test_model_frame_errors(reference):
    with pytest.raises(DataContractError, match="model 'm1' needs column 'lnpopp'.*'lnpop'"):
        model_frame(reference.data, ["Inno", "lnpopp"], spec_name="m1")
    df = reference.data.assign(Envir=np.nan)
    with pytest.raises(DataContractError, match="no complete rows.*'Envir' removes 30"):
        model_frame(df, ["Inno", "Envir"])


# ------------------------------------------------------------------ the shipped panel
@pytest.mark.skipif(not DEFAULT_PANEL.exists(), reason="default panel not built yet")
def test_default_panel_meets_the_contract():
    panel = load_panel()
    r = panel.report
    assert (r["units"], r["first_period"], r["last_period"]) == (280, 2010, 2021)
    assert set(CITY_PANEL.groups) <= set(panel.data.columns)


def test_column_file_sets_the_loaders_options_and_the_paper_flag(tmp_path, panel_df):
    semi = tmp_path / "semi.csv"
    df = panel_df.copy()
    df.loc[df.index[3], "Inno"] = np.nan
    df.to_csv(semi, sep=";", decimal=",", index=False)
    yml = tmp_path / "cols.yml"
    yml.write_text('sep: ";"\ndecimal: ","\ndrop_missing_outcome: true\npaper_panel: true\n')
    panel = load_panel(semi, columns=yml)
    assert panel.report["dropped_missing_outcome"] == 1 and panel.spec.paper_panel
    assert panel.spec.controls == CONTROLS          # the paper's panel keeps the book's roles
    want = panel_df.drop(index=df.index[3]).sort_values(["city_id", "year"])["Inno"].to_numpy()
    got = panel.data.sort_values(["city_id", "year"])["Inno"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)   # decimal commas read as numbers
    with pytest.raises(DataContractError, match="missing outcome"):  # the remedy is needed
        load_panel(semi, columns={"sep": ";", "decimal": ","})
    for text, match in [("sep: ';'\ndecimal: ';'\n", "both ';'"), ("drop_singletons: maybe\n", "true or false"),
                        ("sep: ';;'\n", "one character"), ("outcom: y\n", "did you mean 'outcome'"),
                        ("y: patents\n", "not a name the book uses")]:
        yml.write_text(text)
        with pytest.raises(DataContractError, match=match):
            load_panel(semi, columns=yml)


def test_bad_files_that_used_to_pass_the_loader_get_a_clear_error(tmp_path, panel_df):
    """inf values, a header-only file, an adoption-year typo, one unit written two ways, a repeated
    column name, a workbook renamed .csv and decimal commas: each names file, column and fix."""
    def csv(name, df=None, text=None):
        path = tmp_path / f"{name}.csv"
        path.write_text(text) if text is not None else df.to_csv(path, index=False)
        return path

    x = panel_df.copy()
    x.loc[x.index[3], "lnpop"] = -np.inf
    with pytest.raises(DataContractError, match=r"inf_control.csv, column 'lnpop'.*infinite values") as e:
        load_panel(csv("inf_control", x))
    assert e.value.column == "lnpop" and e.value.rows
    with pytest.raises(DataContractError, match="has a header .* but no rows"):
        load_panel(csv("header_only", text=",".join(panel_df.columns) + "\n"))
    x = panel_df.drop(columns=["CBEC"])
    x.loc[x["city_id"] == 110000, "adoption_year"] = 20120
    with pytest.raises(DataContractError, match=r"far outside the panel's periods 2010-2014 \(a typo"):
        load_panel(csv("typo", x), columns={"adoption": "adoption_year"})
    x = panel_df.copy()
    x["city_id"] = x["city_id"].astype(str)
    x.loc[x.index[0], "city_id"] = "Beijing"
    with pytest.raises(DataContractError, match="identifiers mix codes and names"):
        load_panel(csv("two_ways", x))
    text = panel_df.to_csv(index=False).replace("Inno", "lnpop", 1)
    with pytest.raises(DataContractError, match="header names 'lnpop' more than once"):
        load_panel(csv("dup", text=text))
    book = tmp_path / "book.xlsx"
    panel_df.to_excel(book, index=False)
    renamed = tmp_path / "workbook.csv"
    renamed.write_bytes(book.read_bytes())
    with pytest.raises(DataContractError, match="is an Excel workbook .* rename it to .xlsx"):
        load_panel(renamed)
    semi = tmp_path / "semi.csv"
    panel_df.to_csv(semi, sep=";", decimal=",", index=False)
    with pytest.raises(DataContractError, match=r'set `decimal: ","`'):
        load_panel(semi)


def test_a_workbook_whose_data_are_on_another_sheet_says_so(tmp_path, panel_df):
    book = tmp_path / "two_sheets.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"note": ["the data are on the next sheet"]}).to_excel(writer, sheet_name="readme",
                                                                           index=False)
        panel_df.to_excel(writer, sheet_name="data", index=False)
    with pytest.raises(DataContractError, match=r"read the first of 2 sheets .*'readme', 'data'.*another sheet"):
        load_panel(book)
    yml = tmp_path / "cols.yml"
    yml.write_text("sheet: data\n")
    assert load_panel(book, columns=yml).report["rows"] == len(panel_df)


def test_regression_weights_role(tmp_path, panel_df):
    """`weights:` names positive analytic weights; bad or absent weights are named with a fix."""
    df = panel_df.assign(pop_w=np.linspace(1.0, 3.0, len(panel_df)))
    spec = {"book_roles": True, "weights": "pop_w"}
    panel = load_panel(_csv(df, tmp_path), columns=spec)
    assert panel.spec.weights == "pop_w" and panel.spec.role("pop_w") == "weights"
    assert load_panel(_csv(df, tmp_path), columns={"book_roles": True}).spec.weights is None
    bad = df.copy()
    bad.loc[2, "pop_w"] = -1.0
    bad.loc[3, "pop_w"] = np.nan
    err = _raises(_csv(bad, tmp_path, "bad.csv"), "column 'pop_w' (weights)", "2 rows", "pop_w=-1.0",
                  "positive weight", columns=spec)
    assert err.rows[0] == (110000, 2012)
    _raises(_csv(df, tmp_path), "column 'popw' (weights) not found", "did you mean 'pop_w'",
            columns={"book_roles": True, "weights": "popw"})
    with pytest.raises(DataContractError, match="`weights:` must be one column name"):
        PanelSpec.from_mapping({"weights": ["a", "b"]})


def test_weights_notice_says_what_the_page_does_with_them():
    from types import SimpleNamespace

    from lib.book.chapter import weights_note

    def data(w):
        return SimpleNamespace(panel=SimpleNamespace(spec=SimpleNamespace(weights=w)))

    assert weights_note(data(None), weighted=True) == ""
    assert "weighted by `pop_w`" in weights_note(data("pop_w"), weighted=True)
    assert "numbers are unweighted" in weights_note(data("pop_w"), weighted=False)

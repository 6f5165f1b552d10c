"""The run command end to end on the baseline chapter: default data, another
sample, a grid, a reader's own file with other column names, and bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lib.methods import did
from lib.data import load_panel
from lib.book.run import EXIT_REJECTED, main
from lib.data.synthetic import default_truth

pytestmark = [pytest.mark.slow]

CONTROLS = ["lnpop", "lnaca", "lngdp", "Infra", "lngov", "lninter", "Urban", "Incoms"]


def _estimates(path):
    return {e["name"]: e for e in json.loads(path.read_text())["estimates"]}


def test_default_run_reproduces_the_book_and_another_sample_differs(tmp_path):
    assert main(["baseline_did", "--out", str(tmp_path / "default")]) == 0
    got = _estimates(tmp_path / "default" / "baseline_did" / "baseline_did.json")
    panel = load_panel().data
    direct = did.twfe(panel,
                      yname="Inno", dname="CBEC", controls=CONTROLS, idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    assert got["table4_col2"]["estimate"] == pytest.approx(direct.params["CBEC"], rel=1e-12)
    assert got["table4_col2"]["nobs"] == 3316
    used = panel.dropna(subset=CONTROLS)
    assert got["table4_col2"]["truth"] == pytest.approx(default_truth().att_on(used), rel=1e-12)

    assert main(["baseline_did", "-p", "sample", "east", "--out", str(tmp_path / "east")]) == 0
    east = _estimates(tmp_path / "east" / "baseline_did" / "baseline_did.json")
    east_direct = did.twfe(panel[panel["region"] == "East"],
                           yname="Inno", dname="CBEC", controls=CONTROLS, idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    assert east["table4_col2"]["estimate"] == pytest.approx(east_direct.params["CBEC"], rel=1e-12)
    payload = json.loads((tmp_path / "east" / "baseline_did" / "baseline_did.json").read_text())
    assert payload["parameters"]["sample"] == "east"


def test_grid_of_two_samples_writes_one_tidy_csv(tmp_path):
    assert main(["baseline_did", "--grid", "sample=all,no_municipalities", "--out", str(tmp_path)]) == 0
    grid = pd.read_csv(tmp_path / "baseline_did_grid" / "baseline_did_grid.csv")
    assert set(grid["sample"]) == {"all", "no_municipalities"}
    col2 = grid[grid["name"] == "table4_col2"].set_index("sample")
    assert col2.loc["all", "nobs"] == 3316
    assert col2.loc["no_municipalities", "nobs"] < 3316
    assert {"estimate", "std_error", "t", "p", "truth", "paper"} <= set(grid.columns)


def test_readers_own_file_with_other_column_names(tmp_path):
    panel = load_panel().data
    mine = panel.rename(columns={"city_id": "code", "year": "yr", "Inno": "patents_index", "CBEC": "pilot"})
    path = tmp_path / "my_panel.dta"
    mine.drop(columns=["city_zh", "province_zh"]).to_stata(path, write_index=False, version=118)
    code = main(["baseline_did", "-p", "data_path", str(path), "-p", "unit", "code", "-p", "time", "yr",
                 "-p", "outcome", "patents_index", "-p", "treatment", "pilot", "--out", str(tmp_path / "run")])
    assert code == 0
    got = _estimates(tmp_path / "run" / "baseline_did" / "baseline_did.json")
    direct = did.twfe(panel,
                      yname="Inno", dname="CBEC", controls=CONTROLS, idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    assert got["table4_col2"]["estimate"] == pytest.approx(direct.params["CBEC"], rel=1e-9)
    assert got["table4_col2"]["truth"] is None, "no truth is claimed on a reader's data"


def test_bad_data_file_fails_with_a_clear_message(tmp_path, capsys):
    panel = load_panel().data
    bad = pd.concat([panel, panel.iloc[[3]]])  # a duplicated city-year
    path = tmp_path / "dup.csv"
    bad.to_csv(path, index=False)
    assert main(["baseline_did", "-p", "data_path", str(path), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "dup.csv" in err and "duplicate" in err.lower()


def test_bad_parameter_is_rejected_before_running(tmp_path, capsys):
    assert main(["baseline_did", "-p", "sample", "mars", "--out", str(tmp_path)]) == EXIT_REJECTED
    assert "not a named sample" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [], "nothing is written for a rejected request"


def test_grid_runs_on_a_dask_cluster(tmp_path):
    from conftest import local_cluster

    with local_cluster() as cluster:
        code = main(["baseline_did", "--grid", "sample=all,east", "--scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path)])
    assert code == 0
    grid = pd.read_csv(tmp_path / "baseline_did_grid" / "baseline_did_grid.csv")
    assert set(grid["sample"]) == {"all", "east"}


"""The run command on the companion paper's chapters with a reader's own provincial panel."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lib import DATA
from lib.book.run import main

pytestmark = [pytest.mark.slow]


def test_fdi_empirics_runs_on_a_readers_panel_without_claiming_a_truth(tmp_path):
    panel = pd.read_csv(DATA / "derived" / "fdi" / "fdi_province_panel.csv")
    path = tmp_path / "my_provinces.xlsx"
    panel.to_excel(path, index=False)
    code = main(["fdi_empirics", "-p", "data_path", str(path), "-p", "bootstrap_reps", "19",
                 "--out", str(tmp_path / "run")])
    assert code == 0
    payload = json.loads((tmp_path / "run" / "fdi_empirics" / "fdi_empirics.json").read_text())
    estimates = {e["name"]: e for e in payload["estimates"]}
    assert estimates["baseline DT"]["truth"] is None
    assert estimates["baseline DT"]["nobs"] == len(panel.dropna(subset=["FDI", "DT"]))


def test_the_companion_papers_numbers_appear_only_on_the_papers_own_panel(tmp_path):
    """On a reader's provincial panel no printed number of the companion paper is recorded; a
    column file that declares the paper's own panel brings them back."""
    panel = pd.read_csv(DATA / "derived" / "fdi" / "fdi_province_panel.csv")
    path = tmp_path / "provinces.csv"
    panel.to_csv(path, index=False)
    declared = tmp_path / "paper.yml"
    declared.write_text("paper_panel: true\n")
    printed = {}
    for label, extra in (("reader", []), ("declared", ["-p", "columns", str(declared)])):
        out = tmp_path / label
        assert main(["fdi_empirics", "-p", "data_path", str(path), *extra, "-p", "bootstrap_reps", "9",
                     "--out", str(out)]) == 0
        payload = json.loads((out / "fdi_empirics" / "fdi_empirics.json").read_text())
        printed[label] = {e["name"] for e in payload["estimates"] if e.get("paper") is not None}
        assert all(e.get("truth") is None for e in payload["estimates"]
                   if not e["name"].startswith("gap "))
    assert printed["reader"] == set()
    assert {"baseline DT", "table2 high", "a DT->MI", "mean VIF"} <= printed["declared"]


def test_a_misspelt_provincial_column_file_key_is_named(tmp_path):
    from lib.data import DataContractError
    from lib.data.provincial import provincial_spec

    with pytest.raises(DataContractError, match="'outcom' \\(did you mean 'outcome'\\?\\)"):
        provincial_spec({"outcom": "fdi"}, source="my.yml")
    with pytest.raises(DataContractError, match="paper_panel"):
        provincial_spec({"paper_panel": "yes"}, source="my.yml")

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

"""Named samples: each rule on a small panel, and the errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fixtures.panels import make_panel, write
from lib.data import DataContractError, load_panel, validate_panel
from lib.data.samples import SAMPLES, Sample, apply_sample, describe_samples

YEARS = range(2010, 2022)
# Beijing 2015, Hangzhou 2016, Zhengzhou 2020, Chongqing 2020, Zigong 2018, Anshan never
ADOPTION = (2015, 2016, 2020, 2020, 2018, None)


@pytest.fixture(scope="module")
def panel():
    df = make_panel(years=YEARS, adoption=ADOPTION)
    df.loc[(df.city_id == 510300) & (df.year == 2011), "Inno"] = np.nan  # Zigong unbalanced in outcome
    return validate_panel(df, source="fixture.csv", drop_missing_outcome=True)


EXPECTED_UNITS = {
    "all": {110000, 330100, 410100, 500000, 510300, 210300},
    "no_municipalities": {330100, 410100, 510300, 210300},
    "east": {110000, 330100},
    "central": {410100},
    "west": {500000, 510300},
    "northeast": {210300},
    "excluding_2020_batch": {110000, 330100, 510300, 210300},
    "balanced": {110000, 330100, 410100, 500000, 210300},
    "years_2012_2021": {110000, 330100, 410100, 500000, 510300, 210300},
    "pilots_only": {110000, 330100, 410100, 500000, 510300},
}


def test_registry_names_and_description():
    assert list(SAMPLES) == list(EXPECTED_UNITS)
    assert all(isinstance(s, Sample) and s.description for s in SAMPLES.values())
    table = describe_samples()
    assert list(table.columns) == ["name", "description"] and list(table["name"]) == list(SAMPLES)


@pytest.mark.parametrize("name", list(EXPECTED_UNITS))
def test_each_sample(panel, name):
    frame, info = apply_sample(panel, name)
    assert set(frame["city_id"]) == EXPECTED_UNITS[name]
    assert info["name"] == name and info["description"] == SAMPLES[name].description
    assert (info["rows_before"], info["units_before"]) == (71, 6)
    assert (info["rows_after"], info["units_after"]) == (len(frame), len(EXPECTED_UNITS[name]))
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    if name == "years_2012_2021":
        assert frame["year"].min() == 2012 and len(frame) == 71 - 11
    if name == "all":
        pd.testing.assert_frame_equal(frame, panel.data)


def test_sample_on_frame_with_default_spec(panel):
    frame, info = apply_sample(panel.data, "east")
    assert info["units_after"] == 2


def test_pilots_only_without_adoption_column(panel):
    frame, _ = apply_sample(panel.data.drop(columns=["adoption_year"]), "pilots_only")
    assert set(frame["city_id"]) == EXPECTED_UNITS["pilots_only"]


def test_unknown_sample_lists_valid_names(panel):
    with pytest.raises(ValueError, match=r"unknown sample 'eats' \(did you mean 'east'\?\).*no_municipalities"):
        apply_sample(panel, "eats")


def test_sample_needs_missing_column(tmp_path):
    df = make_panel(years=YEARS, adoption=ADOPTION).drop(columns=["region"])
    path = write(df, tmp_path / "no_region.csv")
    p = load_panel(path)
    assert "region" in p.report["absent_groups"]
    with pytest.raises(DataContractError) as info:
        apply_sample(p, "west")
    msg = str(info.value)
    assert "no_region.csv" in msg and "column 'region'" in msg and "sample 'west'" in msg
    assert info.value.column == "region"


def test_empty_sample_raises(panel):
    data = panel.data.assign(region="East")
    with pytest.raises(DataContractError, match=r"fixture.csv: sample 'northeast'.*leaves no rows.*'region'.*East"):
        apply_sample(data, "northeast")

"""Tests of the real facts: city frame, sample rule and CBEC adoption timing."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from lib.data import facts

YEARS = range(2010, 2022)


@pytest.fixture(scope="module")
def frame():
    return facts.city_frame(sample_only=False)


@pytest.fixture(scope="module")
def sample():
    return facts.sample_frame()


def cbec_share(g: pd.Series) -> Fraction:
    """Treated share of the city x year grid as an exact fraction."""
    treated = sum(int((g.fillna(10_000) <= t).sum()) for t in YEARS)
    return Fraction(treated, len(g) * len(YEARS))


def test_frame_is_the_2021_frame(frame):
    assert len(frame) == 337
    assert frame["city_id"].is_unique
    assert frame["unit_type"].value_counts().to_dict() == {
        "prefecture-level city": 293, "autonomous prefecture": 30,
        "prefecture": 7, "municipality": 4, "league": 3}
    assert frame["province"].nunique() == 31
    # Laiwu (merged 2019) and Chaohu (abolished 2011) are not in the frame.
    assert not frame["city_id"].isin([371200, 341400]).any()
    assert frame.loc[frame.city_id == 540600, "city"].item() == "Nagqu"


def test_sample_has_280_unique_cities(sample):
    assert len(sample) == 280
    assert sample["city_id"].is_unique
    assert sample["city_id"].between(110000, 659999).all()


def test_exclusions_are_explained(frame):
    out = frame[~frame["in_sample"]]
    assert (out["exclusion_reason"] != "").all()
    assert (frame.loc[frame["in_sample"], "exclusion_reason"] == "").all()
    late = frame["prefecture_level_since"].notna()
    assert set(frame.loc[late, "city"]) == {
        "Bijie", "Tongren", "Sansha", "Haidong", "Shigatse", "Qamdo", "Nyingchi",
        "Turpan", "Danzhou", "Hami", "Shannan", "Nagqu"}
    assert not frame.loc[late, "in_sample"].any()
    cities = frame[frame.unit_type.isin(facts.CITY_UNIT_TYPES)]
    assert len(cities) == 297
    other = cities[~cities.in_sample & cities.prefecture_level_since.isna()]
    assert set(other["city"]) == {"Lhasa", "Ma'anshan", "Huainan", "Lu'an", "Tongling"}


def test_98_pilot_cities_in_sample_with_cohorts(sample):
    g = facts.adoption_years()
    assert g.name == "adoption_year"
    assert str(g.dtype) == "Int64"
    assert g.index.equals(pd.Index(sample["city_id"], name="city_id"))
    assert g.notna().sum() == 98
    assert g.value_counts().sort_index().to_dict() == {
        2015: 1, 2016: 12, 2018: 21, 2019: 21, 2020: 43}
    # every batch 1-5 pilot that is a city in the sample is treated
    p = facts.pilot_batches(window=(2010, 2021))
    assert len(p) == 105
    in_sample = p[p.prefecture_code.isin(sample.city_id)
                  & p.unit_type.isin(facts.CITY_UNIT_TYPES)]
    assert len(in_sample) == 98


def test_cbec_mean_matches_paper():
    share = cbec_share(facts.adoption_years())
    assert share == Fraction(312, 3360)
    assert round(float(share), 4) == 0.0929


def test_next_year_if_late():
    g = facts.adoption_years(rule="next_year_if_late")
    # batch 3 (2018-07-24) and batch 4 (2019-12-15) move a year later
    assert g.value_counts().sort_index().to_dict() == {2015: 1, 2016: 12, 2019: 21, 2020: 64}
    assert cbec_share(g) == Fraction(1 * 7 + 12 * 6 + 21 * 3 + 64 * 2, 3360)  # 270/3360
    # with late_month=12 only batch 4 moves
    g12 = facts.adoption_years(rule="next_year_if_late", late_month=12)
    assert g12.value_counts().sort_index().to_dict() == {2015: 1, 2016: 12, 2018: 21, 2020: 64}
    assert cbec_share(g12) == Fraction(291, 3360)


def test_unknown_rule_raises():
    with pytest.raises(ValueError, match="valid rules are 'approval_year', 'next_year_if_late'"):
        facts.adoption_years(rule="announcement_year")


def test_county_pilots_map_only_when_asked(frame):
    jinhua = frame.loc[frame.city == "Jinhua", "city_id"].item()
    assert pd.isna(facts.adoption_years().loc[jinhua])
    tab = facts.adoption_table(map_county_pilots_to_prefecture=True)
    assert tab.loc[jinhua, "adoption_year"] == 2018
    assert tab.loc[jinhua, "via"] == "Yiwu"
    assert tab.loc[jinhua, "batch"] == 3
    g = facts.adoption_years(map_county_pilots_to_prefecture=True)
    assert g.notna().sum() == 98 + 4  # Jinhua, Mudanjiang, Baoding, Hulunbuir
    # the mapping is recorded in the pilot table whatever the option
    p = facts.pilot_batches()
    assert p.loc[p.pilot_area_en == "Yiwu", "prefecture_code"].item() == jinhua


def test_last_year_cuts_window():
    g = facts.adoption_years(last_year=2018)
    assert g.notna().sum() == 34
    g_all = facts.adoption_years(last_year=2022)
    assert g_all.notna().sum() > 98  # batches 6-7 (partly from memory)


def test_regions(frame, sample):
    assert set(frame["region"]) == set(facts.REGIONS)
    assert (frame.groupby("province")["region"].nunique() == 1).all()
    provinces = pd.read_csv(facts.DATA / "raw" / "provinces.csv", dtype={"code": str})
    assert len(provinces) == 31 and set(provinces.region) == set(facts.REGIONS)
    assert provinces.groupby("region").size().to_dict() == {
        "East": 10, "Central": 6, "Northeast": 3, "West": 12}
    merged = frame.merge(provinces, on="province", suffixes=("", "_p"))
    assert len(merged) == len(frame)
    assert (merged.region == merged.region_p).all()
    assert (merged.city_id // 10000 == merged.code.astype(int)).all()
    assert sample["region"].value_counts().to_dict() == {
        "East": 86, "West": 84, "Central": 76, "Northeast": 34}


def test_municipalities_and_capitals(frame, sample):
    muni = frame.loc[frame.is_municipality, "city_id"]
    assert sorted(muni) == sorted(facts.MUNICIPALITIES)
    assert sample["is_municipality"].sum() == 4
    assert frame["is_provincial_capital"].sum() == 31
    assert sample["is_provincial_capital"].sum() == 30  # all but Lhasa
    assert frame["is_sub_provincial"].sum() == 15
    assert sample["is_sub_provincial"].sum() == 15


def test_agglomerations(frame, sample):
    assert set(frame["agglomeration"]) == set(facts.AGGLOMERATIONS)
    n = frame["agglomeration"].value_counts()
    assert n["PRD"] == 9 and n["JJJ"] == 13 and n["YRD"] == 27
    m = sample["agglomeration"].value_counts()
    assert m["PRD"] == 9 and m["JJJ"] == 13 and m["YRD"] == 25
    assert (frame.loc[frame.agglomeration == "PRD", "province"] == "Guangdong").all()


def test_coordinates_in_china(frame):
    assert frame[["longitude", "latitude"]].notna().all().all()
    assert frame["longitude"].between(73.5, 135.1).all()
    assert frame["latitude"].between(3.8, 53.6).all()


def test_names(frame):
    names = dict(zip(frame.city_zh, frame.city))
    expected = {"重庆市": "Chongqing", "厦门市": "Xiamen", "蚌埠市": "Bengbu",
                "六安市": "Lu'an", "长沙市": "Changsha", "乐山市": "Leshan",
                "长治市": "Changzhi", "朝阳市": "Chaoyang", "西安市": "Xi'an",
                "杭州市": "Hangzhou", "呼和浩特市": "Hohhot"}
    for zh, en in expected.items():
        assert names[zh] == en
    assert frame["city"].str.match(r"^[A-Z][A-Za-z' ]+$").all()
    assert frame["province"].isin(["Inner Mongolia", "Tibet", "Shaanxi", "Shanxi"]).any()


def test_sample_frame_columns(sample):
    assert list(sample.columns) == [
        "city_id", "city", "city_zh", "province", "province_zh", "region",
        "longitude", "latitude", "is_municipality", "is_provincial_capital",
        "is_sub_provincial", "agglomeration", "batch", "adoption_year"]
    assert sample["batch"].value_counts().sort_index().to_dict() == {
        1: 1, 2: 12, 3: 21, 4: 21, 5: 43}
    np.testing.assert_array_equal(
        sample["adoption_year"].notna(), sample["batch"].notna())


def test_pilot_table(frame):
    p = facts.pilot_batches()
    assert len(p) == 165
    assert p.groupby("batch").size().to_dict() == {1: 1, 2: 12, 3: 22, 4: 24, 5: 46, 6: 27, 7: 33}
    assert p["prefecture_code"].isin(frame.city_id).all()
    assert p[["pilot_area_en", "prefecture_en", "province_en", "check"]].ne("").all().all()
    assert p["approval_date"].dt.year.between(2015, 2022).all()
    assert p.loc[p.batch >= 6, "check"].str.contains("recalled").all()

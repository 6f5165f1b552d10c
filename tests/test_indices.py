"""Tests of lib.data.indices (eq. 11 producer-service agglomeration)."""

import numpy as np
import pandas as pd
import pytest

from lib.data.indices import producer_service_agglomeration


def _example():
    # 3 cities, 2 producer-service sectors, one year; totals 100, 50, 50.
    emp = pd.DataFrame({
        "city_id": [1, 1, 2, 2, 3, 3],
        "year": [2020] * 6,
        "sector": ["finance", "it"] * 3,
        "employment": [10.0, 10.0, 5.0, 0.0, 2.0, 3.0],
    })
    tot = pd.DataFrame({"city_id": [1, 2, 3], "year": 2020,
                        "total_employment": [100.0, 50.0, 50.0]})
    return emp, tot


def test_hand_computed_three_cities():
    emp, tot = _example()
    # producer services: 20, 5, 5 (sum 30); totals 100, 50, 50 (sum 200)
    # spec = (20/30)/(100/200) = 4/3; (5/30)/(50/200) = 2/3; same for city 3
    got = producer_service_agglomeration(emp, tot)
    np.testing.assert_allclose(got.to_numpy(), [4 / 3, 2 / 3, 2 / 3], rtol=1e-14)
    assert got.name == "Spec"
    assert list(got.index.names) == ["city_id", "year"]
    # employment-weighted mean is one
    assert np.isclose((got.to_numpy() * tot["total_employment"]).sum() / 200.0, 1.0)


def test_sector_subset_and_years_are_separate():
    emp, tot = _example()
    emp2 = emp.assign(year=2021, employment=emp["employment"] * 2)
    tot2 = tot.assign(year=2021)
    got = producer_service_agglomeration(pd.concat([emp, emp2]), pd.concat([tot, tot2]))
    # scaling a whole year leaves the index unchanged
    np.testing.assert_allclose(got.xs(2021, level="year").to_numpy(),
                               got.xs(2020, level="year").to_numpy())
    fin = producer_service_agglomeration(emp, tot, sectors=["finance"])
    # finance only: 10, 5, 2 of 17
    np.testing.assert_allclose(fin.to_numpy(), [(10 / 17) / 0.5, (5 / 17) / 0.25, (2 / 17) / 0.25])


def test_unit_years_missing_from_a_table_are_not_scored():
    emp, tot = _example()
    got = producer_service_agglomeration(emp[emp.city_id != 3], tot)
    # benchmark over cities 1 and 2 only: (20/25)/(100/150), (5/25)/(50/150)
    np.testing.assert_allclose(got.to_numpy(), [1.2, 0.6])


def test_errors_name_the_column():
    emp, tot = _example()
    with pytest.raises(ValueError, match="employment"):
        producer_service_agglomeration(emp.assign(employment=np.nan), tot)
    with pytest.raises(ValueError, match="lacks column"):
        producer_service_agglomeration(emp.rename(columns={"sector": "s"}), tot)

"""A stand-in city frame with the columns and cohort counts of ``lib.data.facts.sample_frame``.

Used by the synthetic-DGP tests so they do not depend on ``lib.data.facts``. The
cities are fictitious ("City 001" ...); the structure (regions, cohorts,
municipalities, capitals, agglomerations) mimics the real frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COHORTS = {2015: 1, 2016: 12, 2018: 21, 2019: 21, 2020: 43}
REGIONS = {"East": 87, "Central": 80, "West": 85, "Northeast": 28}


def standin_frame(seed: int = 7) -> pd.DataFrame:
    """280 fictitious cities; 98 pilots in cohorts 2015:1, 2016:12, 2018:21, 2019:21, 2020:43."""
    rng = np.random.default_rng(seed)
    region = np.concatenate([[r] * k for r, k in REGIONS.items()])
    n = len(region)
    # treated: first 98 after a region-weighted shuffle (East over-represented)
    wt = np.select([region == "East", region == "Central", region == "West"], [3.0, 1.2, 1.0], 1.1)
    score = rng.random(n) ** (1 / wt)
    order = np.argsort(-score)
    adoption = np.full(n, np.nan)
    batch = np.full(n, np.nan)
    pos = 0
    for b, (yr, k) in enumerate(COHORTS.items(), start=1):
        adoption[order[pos:pos + k]] = yr
        batch[order[pos:pos + k]] = b
        pos += k
    muni = np.zeros(n, bool)
    muni[order[[1, 2, 3, 13]]] = True  # three in 2016, one in 2018
    cap = np.zeros(n, bool)
    cap[order[[0, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19, 20, 34, 35, 36, 37, 38, 55, 56,
                60, 70, 80, 90, 97, 120, 150]]] = True
    sub = np.zeros(n, bool)
    sub[order[[0, 9, 10, 11, 12, 14, 15, 16, 21, 22, 34, 35, 40, 41, 42]]] = True
    agg = np.full(n, "other", dtype=object)
    east = np.flatnonzero(region == "East")
    agg[east[:13]] = "JJJ"
    agg[east[13:40]] = "YRD"
    agg[east[40:49]] = "PRD"
    agg[order[0]] = "YRD"
    provinces = [f"P{k:02d}" for k in range(30)]
    prov = np.array([provinces[i % 30] for i in range(n)])
    return pd.DataFrame({
        "city_id": np.arange(1, n + 1),
        "city": [f"City {i:03d}" for i in range(1, n + 1)],
        "city_zh": [f"城市{i:03d}" for i in range(1, n + 1)],
        "province": prov,
        "province_zh": prov,
        "region": region,
        "longitude": rng.uniform(90, 130, n),
        "latitude": rng.uniform(20, 50, n),
        "is_municipality": muni,
        "is_provincial_capital": cap,
        "is_sub_provincial": sub,
        "agglomeration": agg,
        "batch": pd.array(batch, dtype="Int64"),
        "adoption_year": pd.array(adoption, dtype="Int64"),
    })

"""Real facts behind the book: the city frame and the CBEC pilot batches.

Everything here is read from two committed files, ``data/raw/cities.csv`` and
``data/raw/cbec_pilot_batches.csv`` (provenance in ``data/README.md``). Nothing
in this module is simulated.

The sample rule
---------------
The paper uses 280 prefecture-level cities over 2010-2021 (3,360 city-years) and
"98 prefecture-level cities out of 105 pilot areas" (batches 1-5), but does not
list its cities. The book therefore states its own rule, which gives exactly
280 cities and contains all 98 pilot cities. Starting from the 2021 frame of
337 prefecture-level units (333 prefecture-level divisions and the 4
municipalities):

1. keep cities only: the 4 municipalities and the 293 prefecture-level cities
   (地级市); drop the 30 autonomous prefectures, 7 prefectures (地区) and
   3 leagues (盟), which are not cities (40 dropped, 297 left);
2. drop the 12 cities that became prefecture-level cities after 2010 and so lack
   a city series for part of the window: Bijie and Tongren (2011), Sansha (2012),
   Haidong (2013), Shigatse and Qamdo (2014), Nyingchi, Turpan and Danzhou
   (2015), Hami and Shannan (2016), Nagqu (2017) (285 left);
3. drop Lhasa, whose city-yearbook series has gaps in 2010-2021 (284 left);
4. drop the four non-pilot cities whose territory was redrawn by Anhui's
   re-divisions inside the window, so that their yearbook series break:
   Ma'anshan (2011, Chaohu abolished), Huainan and Lu'an (2015/16, Shou county
   moved from Lu'an to Huainan) and Tongling (2015/16, Zongyang county moved
   from Anqing) (280 left).

Step 4 is a convention of the book, not a fact about the paper. No pilot city
of batches 1-5 is dropped by any step.

Treatment timing
----------------
The 98 pilot cities are the pilot areas of batches 1-5 whose unit is a city in
the sample. The other 7 pilot areas of batches 1-5 are Yiwu, Hunchun, Suifenhe
and Manzhouli (county-level cities), Xiong'an New Area, Dehong (an autonomous
prefecture) and Haidong (a prefecture-level city only since 2013). As in the
paper, their parent prefecture is *not* treated by them by default (Jinhua, for
Yiwu, stays untreated until its own approval); ``map_county_pilots_to_prefecture``
switches that on. Under the default timing rule the adoption cohorts are
2015: 1, 2016: 12, 2018: 21, 2019: 21, 2020: 43, so that the mean of the
treatment dummy on the 280 x 12 grid is 312 / 3360 = 0.092857, the paper's
0.0929.
"""

from __future__ import annotations

import pandas as pd

from lib import DATA

#: NBS four economic regions, in the NBS order.
REGIONS = ("East", "Central", "West", "Northeast")
#: City codes of the four municipalities (Beijing, Tianjin, Shanghai, Chongqing).
MUNICIPALITIES = (110000, 120000, 310000, 500000)
#: Urban agglomerations flagged in ``cities.csv`` (definitions in data/README.md).
AGGLOMERATIONS = ("JJJ", "YRD", "PRD", "other")
#: Timing rules understood by :func:`adoption_years`.
RULES = ("approval_year", "next_year_if_late")
#: Units that count as cities for treatment.
CITY_UNIT_TYPES = ("municipality", "prefecture-level city")
#: What a table or figure of these facts was made from (its CSV's ``data`` column, its note).
SOURCE = ("real facts: the 2021 frame of prefecture-level units and the State Council's CBEC pilot "
          "batches (data/raw/cities.csv, data/raw/cbec_pilot_batches.csv); nothing simulated")

_CITIES = DATA / "raw" / "cities.csv"
_PILOTS = DATA / "raw" / "cbec_pilot_batches.csv"

_CITY_DTYPES = {
    "city_id": "int64",
    "city": "string",
    "city_zh": "string",
    "unit_type": "string",
    "province": "string",
    "province_zh": "string",
    "region": "string",
    "longitude": "float64",
    "latitude": "float64",
    "is_municipality": "bool",
    "is_provincial_capital": "bool",
    "is_sub_provincial": "bool",
    "agglomeration": "string",
    "prefecture_level_since": "Int64",
    "in_sample": "bool",
    "exclusion_reason": "string",
}


def city_frame(sample_only: bool = True) -> pd.DataFrame:
    """Read the 2021 frame of prefecture-level units.

    Parameters
    ----------
    sample_only : bool, default True
        Keep only the 280 cities of the book's sample (``in_sample``). With
        ``False`` all 337 units are returned, with ``exclusion_reason`` saying
        why a unit is out of the sample.

    Returns
    -------
    pandas.DataFrame
        One row per unit, sorted by ``city_id``, with the columns of
        ``data/raw/cities.csv`` (see ``data/README.md``) in typed form:
        ``city_id`` int64, flags bool, ``prefecture_level_since`` Int64,
        ``exclusion_reason`` an empty string for units in the sample.

    Examples
    --------
    >>> len(city_frame())
    280
    """
    df = pd.read_csv(_CITIES, dtype=_CITY_DTYPES, keep_default_na=False,
                     na_values={"prefecture_level_since": [""]})
    if sample_only:
        df = df[df["in_sample"]]
    return df.sort_values("city_id").reset_index(drop=True)


def pilot_batches(window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Read the State Council approvals of CBEC pilot areas (batches 1-7).

    Parameters
    ----------
    window : tuple of int, optional
        ``(first_year, last_year)``, inclusive; keep approvals whose year is in
        the window. ``(2010, 2021)`` gives the paper's 105 areas of batches 1-5.
        ``None`` keeps all 165 rows.

    Returns
    -------
    pandas.DataFrame
        One row per pilot area with ``approval_date`` as datetime64,
        ``batch`` and ``prefecture_code`` as int64 and the rest as strings.
        ``prefecture_code`` is the 6-digit code of the prefecture-level unit the
        area lies in (the area itself when it is a city). ``check`` records how
        far each row was verified; batches 6 and 7 are partly from memory.
    """
    df = pd.read_csv(_PILOTS, dtype=str, keep_default_na=False)
    df["batch"] = df["batch"].astype("int64")
    df["prefecture_code"] = df["prefecture_code"].astype("int64")
    df["approval_date"] = pd.to_datetime(df["approval_date"], format="%Y-%m-%d")
    if window is not None:
        lo, hi = window
        year = df["approval_date"].dt.year
        df = df[(year >= lo) & (year <= hi)]
    return df.reset_index(drop=True)


def _timing(dates: pd.Series, rule: str, late_month: int) -> pd.Series:
    if rule not in RULES:
        raise ValueError(
            f"unknown timing rule {rule!r}; valid rules are {', '.join(map(repr, RULES))}"
        )
    year = dates.dt.year
    if rule == "next_year_if_late":
        if not 1 <= late_month <= 12:
            raise ValueError(f"late_month must be in 1..12, got {late_month}")
        year = year + (dates.dt.month >= late_month).astype(int)
    return year.astype("int64")


def adoption_table(
    rule: str = "approval_year",
    late_month: int = 7,
    map_county_pilots_to_prefecture: bool = False,
    last_year: int = 2021,
    sample_only: bool = True,
) -> pd.DataFrame:
    """First CBEC approval of each city: batch, date and adoption year.

    Parameters
    ----------
    rule, late_month, map_county_pilots_to_prefecture, last_year
        As in :func:`adoption_years`.
    sample_only : bool, default True
        Index by the 280 sample cities; ``False`` uses all 337 units.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``city_id``, with ``batch`` (Int64), ``approval_date``,
        ``adoption_year`` (Int64) and ``via`` (the pilot area that treats the
        city, e.g. ``"Yiwu"`` for Jinhua when the county option is on). All are
        missing for cities not treated by ``last_year``.
    """
    frame = city_frame(sample_only=sample_only)
    p = pilot_batches()
    p = p.assign(adoption_year=_timing(p["approval_date"], rule, late_month))
    if not map_county_pilots_to_prefecture:
        p = p[p["unit_type"].isin(CITY_UNIT_TYPES)]
    p = p[p["adoption_year"] <= last_year]
    p = p.sort_values(["adoption_year", "approval_date"]).drop_duplicates(
        "prefecture_code", keep="first")
    p = p.set_index("prefecture_code")
    out = pd.DataFrame(index=pd.Index(frame["city_id"], name="city_id"))
    out["batch"] = p["batch"].reindex(out.index).astype("Int64")
    out["approval_date"] = p["approval_date"].reindex(out.index)
    out["adoption_year"] = p["adoption_year"].reindex(out.index).astype("Int64")
    out["via"] = p["pilot_area_en"].reindex(out.index).astype("string")
    return out


def adoption_years(
    rule: str = "approval_year",
    late_month: int = 7,
    map_county_pilots_to_prefecture: bool = False,
    last_year: int = 2021,
) -> pd.Series:
    """Year from which each sample city counts as a CBEC pilot city.

    The treatment dummy of the paper is

    .. math::

        CBEC_{it} = \\mathbf 1\\{t \\ge g_i\\}, \\qquad
        g_i = \\min\\{\\tau(d_a) : a \\text{ a pilot area of city } i\\},

    where :math:`d_a` is the date of the State Council reply approving area
    :math:`a` and :math:`\\tau` the timing rule. Cities with no approval up to
    ``last_year`` have :math:`g_i = \\infty` (``<NA>``).

    Parameters
    ----------
    rule : {"approval_year", "next_year_if_late"}, default "approval_year"
        ``"approval_year"`` (the paper's): treated from the calendar year of the
        reply. ``"next_year_if_late"``: a reply dated in or after month
        ``late_month`` counts from the following year. With ``late_month=7``
        batch 3 (2018-07-24) moves to 2019 and batch 4 (2019-12-15) to 2020.
    late_month : int, default 7
        First month (1-12) counted as late; used only by ``"next_year_if_late"``.
    map_county_pilots_to_prefecture : bool, default False
        If True, a pilot area below the prefecture level (a county-level city
        or Xiong'an New Area) also treats its prefecture-level city, e.g. Yiwu
        (2018) treats Jinhua. The paper does not do this, so the default is
        False.
    last_year : int, default 2021
        Approvals adopted after this year are ignored.

    Returns
    -------
    pandas.Series
        Named ``adoption_year``, dtype Int64, indexed by ``city_id`` of the 280
        sample cities. The batch behind each year is in
        :func:`adoption_table`.

    Raises
    ------
    ValueError
        If ``rule`` is not one of :data:`RULES`.

    Examples
    --------
    >>> g = adoption_years()
    >>> {int(k): int(v) for k, v in g.value_counts().sort_index().items()}
    {2015: 1, 2016: 12, 2018: 21, 2019: 21, 2020: 43}
    """
    tab = adoption_table(rule=rule, late_month=late_month,
                         map_county_pilots_to_prefecture=map_county_pilots_to_prefecture,
                         last_year=last_year)
    return tab["adoption_year"].rename("adoption_year")


def sample_frame(
    rule: str = "approval_year",
    late_month: int = 7,
    map_county_pilots_to_prefecture: bool = False,
    last_year: int = 2021,
) -> pd.DataFrame:
    """The 280 sample cities with their region, flags and CBEC adoption.

    Parameters
    ----------
    rule, late_month, map_county_pilots_to_prefecture, last_year
        Passed to :func:`adoption_years`.

    Returns
    -------
    pandas.DataFrame
        Columns ``city_id, city, city_zh, province, province_zh, region,
        longitude, latitude, is_municipality, is_provincial_capital,
        is_sub_provincial, agglomeration, batch, adoption_year``; ``batch``
        and ``adoption_year`` are Int64 and ``<NA>`` for never-treated cities.
    """
    cols = ["city_id", "city", "city_zh", "province", "province_zh", "region",
            "longitude", "latitude", "is_municipality", "is_provincial_capital",
            "is_sub_provincial", "agglomeration"]
    tab = adoption_table(rule=rule, late_month=late_month,
                         map_county_pilots_to_prefecture=map_county_pilots_to_prefecture,
                         last_year=last_year)
    df = city_frame(sample_only=True)[cols]
    df = df.join(tab[["batch", "adoption_year"]], on="city_id")
    return df.reset_index(drop=True)


__all__ = [
    "REGIONS", "MUNICIPALITIES", "AGGLOMERATIONS", "RULES", "CITY_UNIT_TYPES", "SOURCE",
    "city_frame", "pilot_batches", "adoption_table", "adoption_years", "sample_frame",
]

r"""Semi-synthetic data-generating process (DGP) of the book's default panel.

The real city panel of the seed paper cannot be obtained. The book therefore
ships a default panel that is **real** where the facts are public -- the 280
prefecture-level cities, their provinces and regions, and the State Council's
pilot batches and dates (from :func:`lib.data.facts.sample_frame`) -- and
**synthetic with a known truth** everywhere else: the controls, the mediators,
the sector employment behind eq. (11) and the innovation index ``Inno``.

Entry points
------------
* :func:`simulate_city_panel` -- ``(panel, truth)`` for any frame, parameters
  and seed;
* :class:`SyntheticParams` -- the teaching knobs (effect size, dynamics,
  heterogeneity, pre-trend, anticipation, noise, selection strength, ...);
* :class:`Truth` -- the true ATT and its breakdowns, JSON round-trip;
* :func:`write_default_panel` / ``python -m lib.data.synthetic --write`` and
  ``--check`` -- the shipped files and their SHA-256 sums.

The equations, every parameter and the calibration table are documented in
``data/derived/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from lib import ROOT, shown_path
from lib.data import groups
from lib.data.indices import producer_service_agglomeration

__all__ = [
    "DEFAULT_SEED",
    "YEARS",
    "TARGETS",
    "PANEL_COLUMNS",
    "SECTORS",
    "SyntheticParams",
    "Scenario",
    "SCENARIOS",
    "Truth",
    "simulate_city_panel",
    "default_files",
    "csv_bytes",
    "write_with_manifest",
    "manifest_mismatches",
    "regeneration_differences",
    "REGEN_RTOL",
    "write_default_panel",
    "check_default_panel",
    "calibration_table",
]

#: Default seed of the shipped panel.
DEFAULT_SEED = 20241123
#: Sample window of the paper.
YEARS = np.arange(2010, 2022)
#: Base year for the time-invariant groupings (industry, city size), and the megacity
#: threshold (urban resident population >= 5 million): the rules of lib.data.groups.
BASE_YEAR, MEGACITY_URBAN_POP = groups.BASE_YEAR, groups.MEGACITY_THRESHOLD

#: Table 3 (pooled mean, s.d.) and Table 5 (unmatched treated, control means).
TARGETS: dict[str, dict[str, float]] = {
    "lnpop": dict(mean=5.9148, sd=0.6638, treated=6.3397, control=5.8842),
    "lnaca": dict(mean=7.6928, sd=1.3123, treated=9.2327, control=7.5465),
    "lngdp": dict(mean=16.6105, sd=0.9256, treated=17.909, control=16.486),
    "Infra": dict(mean=17.6985, sd=7.463, treated=18.918, control=17.498),
    "lngov": dict(mean=14.8929, sd=0.7595, treated=16.005, control=14.786),
    "lninter": dict(mean=13.4386, sd=0.9627, treated=14.785, control=13.307),
    "Urban": dict(mean=0.5522, sd=0.1495, treated=0.7224, control=0.5351),
    "Incoms": dict(mean=15.6009, sd=1.0489, treated=17.005, control=15.473),
}
#: Table 3 moments of the outcome.
INNO_TARGET = dict(mean=0.0088, median=0.0009, sd_printed=0.3992)
CONTROLS = tuple(TARGETS)
MEDIATORS = ("Diginf", "Spec", "Envir")
#: Producer-service sectors of the employment table (GB/T 4754 sections).
SECTORS = ("transport_storage_post", "information_software_it", "finance",
           "leasing_business_services", "scientific_research_technical")
_SECTOR_WEIGHTS = np.array([0.30, 0.12, 0.22, 0.14, 0.22])

#: Share of the pooled s.d. (standardised units) due to the common time trend,
#: from the 2010-2021 national growth of each series (see README).
_TIME_SD = {"lnpop": 0.02, "lnaca": 0.06, "lngdp": 0.33, "Infra": 0.20, "lngov": 0.33,
            "lninter": 0.30, "Urban": 0.30, "Incoms": 0.32}
#: Share of the pooled s.d. due to idiosyncratic city-year noise.
_WITHIN_SD = {"lnpop": 0.03, "lnaca": 0.05, "lngdp": 0.06, "Infra": 0.10, "lngov": 0.07,
              "lninter": 0.10, "Urban": 0.04, "Incoms": 0.06}
#: Loading of the city-specific trend h_i * t (time-varying confounding).
_CONF_SD = {"lnpop": 0.0, "lnaca": 0.02, "lngdp": 0.06, "Infra": 0.02, "lngov": 0.05,
            "lninter": 0.06, "Urban": 0.04, "Incoms": 0.06}

#: Log-innovation premia of innovation hubs (real facts) and the s.d. of the
#: city-specific log-innovation component (calibrated to Table 3's Inno moments).
_HUB = {"muni": 1.0, "sub": 0.5, "cap": 0.3, "leader": 1.2}
_SIGMA_CITY = 0.9

#: Heterogeneity of the direct effect: additive shifts of the city's relative
#: effect g_i = 1 + sum of shifts (before ``heterogeneity`` scaling and the
#: normalisation to mean one over CBEC == 1 rows). Directions follow Tables
#: 7-10: East > Central > Northeast >= West; tertiary >> secondary; megacity >>
#: large/medium (whose direct effect is about zero or negative -- 'siphoning');
#: YRD largest among agglomerations; earlier cohorts larger.
EFFECT_SHIFTS: dict[str, dict[Any, float]] = {
    "region": {"East": 0.3, "Central": 0.0, "Northeast": -0.8, "West": -0.4},
    "industry": {"tertiary": 0.8, "secondary": -0.6},
    "city_size": {"megacity": 1.0, "large_medium": -0.5},
    "agglomeration": {"YRD": 0.6, "PRD": 0.1, "JJJ": -0.3, "other": 0.0},
    "cohort": {2015: 0.4, 2016: 0.3, 2018: 0.0, 2019: -0.1, 2020: -0.2},
}

FRAME_COLUMNS = ["city_id", "city", "city_zh", "province", "province_zh", "region",
                 "is_municipality", "is_provincial_capital", "agglomeration", "batch",
                 "adoption_year"]
PANEL_COLUMNS = FRAME_COLUMNS + [
    "year", "treated", "CBEC", "Inno", *CONTROLS, *MEDIATORS,
    "secondary_share", "tertiary_share", "industry", "urban_pop", "city_size",
    "total_employment"]
SECTOR_COLUMNS = ["city_id", "year", "sector", "employment"]

FLOAT_FORMAT = "%.10g"
DERIVED = ROOT / "data" / "derived"
PANEL_FILE = "cbec_city_panel.csv"
TRUTH_FILE = "cbec_city_panel_truth.json"
SECTOR_FILE = "cbec_sector_employment.csv"


# ----------------------------------------------------------------- parameters
@dataclass(frozen=True)
class SyntheticParams:
    """Teaching knobs of the DGP (all documented in ``data/derived/README.md``).

    Parameters
    ----------
    effect_size : float, default 0.012
        True ATT on the treated (mean of tau over ``CBEC == 1`` rows), in
        ``Inno`` index units. The ATT equals ``effect_size`` exactly unless
        the non-negativity floor binds (reported as ``Truth.n_floored``).
    dynamics : float, default 0.25
        Growth of the direct effect with event time e:
        ``1 + dynamics * min(e, 4)`` for e >= 0 (0 = flat).
    heterogeneity : float, default 1.0
        Scales the cross-sectional heterogeneity of the direct effect (cohort,
        region, industry, city size, agglomeration); 0 = same direct effect in
        every city (with ``dynamics=0`` tau is then constant).
    pretrend : float, default 0.0
        Slope (index units per year) of a differential linear trend of treated
        cities' untreated outcome up to e = -1 (flat afterwards); violates
        parallel trends. Must be >= 0.
    anticipation : int, default 0
        Years before adoption in which the direct effect already operates
        (at its e = 0 size); those rows keep ``CBEC == 0``.
    noise : float, default 1.0
        Scales the idiosyncratic city-year noise of ``Inno`` and the mediators.
    selection_strength : float, default 1.0
        Scales the treated-control gap of the latent development factor
        (1 = calibrated to Table 5; 0 = no selection on observables). Allowed
        range ``[0, 1/rho]`` (about 1.05) so the factor keeps unit variance.
    mediator_slopes : tuple of float, default (0.05, 0.01, 0.0005)
        b_k: slope of ``Inno`` on Diginf (0-1 index), Spec (location quotient)
        and Envir (0-100 score), net of city and year effects.
    indirect_shares : tuple of float, default (0.10, 0.08, 0.07)
        Share of ``effect_size`` that runs through each mediator; the
        mediator effects are a_k = share_k * effect_size / b_k.
    confounding : float, default 0.0
        theta: slope of ``Inno`` on the city-specific trend h_i (t - 2010)
        that the controls also load on (time-varying confounding). Off by
        default, so that parallel trends hold in levels and any gap between
        TWFE and the truth comes from effect heterogeneity alone; a teaching
        switch (try 2e-4: larger, treated cities then trend up faster).
    inno_dispersion : float, default 1.6
        Loading of log innovation capacity on the development factor; sets the
        skew (mean/max ratio) of ``Inno``.
    mediator_confounding : float, default 0.0
        omega: adds ``omega * sigma_Diginf * g_i * eps_it`` to Diginf, where
        eps_it is the city-year shock of ``Inno``; an unobserved confounder of
        the mediator-outcome path (sequential ignorability fails), so the b
        path and the indirect effect through Diginf are biased upwards while
        their truths stay put. Off by default; a teaching switch (try 3).
    """

    effect_size: float = 0.012
    dynamics: float = 0.25
    heterogeneity: float = 1.0
    pretrend: float = 0.0
    anticipation: int = 0
    noise: float = 1.0
    selection_strength: float = 1.0
    mediator_slopes: tuple[float, float, float] = (0.05, 0.01, 0.0005)
    indirect_shares: tuple[float, float, float] = (0.10, 0.08, 0.07)
    confounding: float = 0.0
    inno_dispersion: float = 1.6
    mediator_confounding: float = 0.0

    def __post_init__(self):
        if self.pretrend < 0:
            raise ValueError(f"pretrend={self.pretrend} < 0; use a non-negative slope "
                             "(the untreated outcome must stay >= 0).")
        if int(self.anticipation) != self.anticipation or self.anticipation < 0:
            raise ValueError(f"anticipation={self.anticipation} must be a non-negative "
                             "integer number of years.")
        if self.selection_strength < 0:
            raise ValueError("selection_strength must be >= 0.")
        if any(b <= 0 for b in self.mediator_slopes):
            raise ValueError("mediator_slopes must be positive (same sign as Tables 11-13).")
        object.__setattr__(self, "mediator_slopes", tuple(float(b) for b in self.mediator_slopes))
        object.__setattr__(self, "indirect_shares", tuple(float(s) for s in self.indirect_shares))


@dataclass(frozen=True)
class Scenario:
    """A named setting of the generator for the estimator lab: what it changes and why.

    ``changes`` overrides :class:`SyntheticParams`; ``breaks`` names the assumption it
    violates (empty: none, every estimator's assumptions hold).
    """

    name: str
    title: str
    changes: dict
    breaks: str = ""

    @property
    def params(self) -> SyntheticParams:
        return SyntheticParams(**self.changes)


_FLAT = dict(heterogeneity=0.0, dynamics=0.0)
#: The estimator lab's scenarios, each one change away from a constant effect (or, for
#: "dynamic", the shipped panel's own process).
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("homogeneous", "Homogeneous effect", dict(_FLAT)),
    Scenario("cohort", "Effects heterogeneous by cohort and city", dict(dynamics=0.0)),
    Scenario("dynamic", "Heterogeneous effects growing with event time (the shipped panel's process)",
             {}),
    Scenario("anticipation", "Anticipation one year ahead", dict(_FLAT, anticipation=1),
             "no anticipation"),
    Scenario("pretrend", "Parallel trends violated by a linear pre-trend", dict(_FLAT, pretrend=0.001),
             "parallel trends"),
    Scenario("selection", "Selection into treatment on observables (trends differ with development)",
             dict(_FLAT, confounding=2e-4), "unconditional parallel trends"),
    Scenario("mediator", "A confounded mediator (Diginf shares Inno's shock)",
             dict(_FLAT, mediator_confounding=3.0), "sequential ignorability of the mediator"),
)}


# ---------------------------------------------------------------------- truth
@dataclass(frozen=True)
class Truth:
    """The known truth of one simulated panel.

    Attributes
    ----------
    att : float
        Mean of tau over treated post-adoption city-years (``CBEC == 1``).
    att_by_cohort : pandas.Series
        Mean tau over ``CBEC == 1`` rows by adoption year.
    att_by_event_time : pandas.Series
        e = -5..+6: mean over ever-treated cities at event time e of
        tau + pretrend deviation (normalised to 0 at e = -1); the estimand of
        an event study with reference period -1. Pre-periods are 0 unless
        ``pretrend`` or ``anticipation`` is set.
    att_by_group : dict of pandas.Series
        Mean tau over ``CBEC == 1`` rows within each level of ``region``,
        ``industry``, ``city_size`` and ``agglomeration``.
    indirect : pandas.DataFrame
        Per mediator: ``a`` (effect of CBEC on the mediator, its units),
        ``b`` (slope of Inno on the mediator) and ``indirect = a * b``.
    effects : pandas.DataFrame
        One row per treated city-year with a non-zero effect (``CBEC == 1``,
        plus anticipation rows): city_id, year, event_time, CBEC, groups,
        ``direct``, ``indirect`` and ``tau = direct + indirect``.
    params : dict
        ``asdict(SyntheticParams)`` used.
    seed : int
        Seed of ``numpy.random.default_rng``.
    missing_counts : dict
        Missing city-years per variable and the N of the standard models.
    extra : dict
        Diagnostics: ATT of the direct part, Inno scale, rows floored, ...
    """

    att: float
    att_by_cohort: pd.Series
    att_by_event_time: pd.Series
    att_by_group: dict[str, pd.Series]
    indirect: pd.DataFrame
    effects: pd.DataFrame
    params: dict
    seed: int
    missing_counts: dict
    extra: dict = field(default_factory=dict)

    # -- json
    def to_dict(self) -> dict:
        """JSON-ready dict (the effects table as records)."""
        def ser(s: pd.Series) -> dict:
            return {str(k): float(v) for k, v in s.items()}

        return {
            "att": float(self.att),
            "att_by_cohort": ser(self.att_by_cohort),
            "att_by_event_time": ser(self.att_by_event_time),
            "att_by_group": {g: ser(s) for g, s in self.att_by_group.items()},
            "indirect": {m: {c: float(v) for c, v in row.items()}
                         for m, row in self.indirect.iterrows()},
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
            "seed": int(self.seed),
            "missing_counts": {k: int(v) for k, v in self.missing_counts.items()},
            "extra": self.extra,
            "effects": {
                "columns": list(self.effects.columns),
                "data": [[_jsonable(v) for v in row]
                         for row in self.effects.itertuples(index=False, name=None)],
            },
        }

    def to_json(self, path: str | Path | None = None, *, indent: int = 1) -> str:
        """Serialise (floats at full precision, keys in fixed order); optionally write."""
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n"
        if path is not None:
            Path(path).write_bytes(text.encode("utf-8"))
        return text

    def att_on(self, frame: pd.DataFrame, *, unit: str = "city_id", time: str = "year") -> float:
        """True ATT over the treated post-adoption city-years present in ``frame``.

        The estimand of a DID on an estimation sample (after dropping rows
        with missing controls, or a named sample): the mean of tau over that
        sample's ``CBEC == 1`` rows. ``nan`` when the sample has none.
        """
        post = self.effects[self.effects["CBEC"] == 1]
        keys = pd.MultiIndex.from_frame(frame[[unit, time]].astype("int64"))
        rows = pd.MultiIndex.from_frame(post[["city_id", "year"]].astype("int64"))
        mask = rows.isin(keys)
        return float(post.loc[mask, "tau"].mean()) if mask.any() else float("nan")

    @classmethod
    def from_json(cls, source: str | Path) -> "Truth":
        """Read a truth from a JSON string or a path to a JSON file."""
        s = str(source)
        text = Path(s).read_text(encoding="utf-8") if not s.lstrip().startswith("{") else s
        d = json.loads(text)

        def ser(x: dict, name: str, int_index: bool = True) -> pd.Series:
            idx = [int(k) for k in x] if int_index else list(x)
            return pd.Series(list(x.values()), index=idx, name=name, dtype=float)

        eff = pd.DataFrame(d["effects"]["data"], columns=d["effects"]["columns"])
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in d["params"].items()}
        return cls(
            att=d["att"],
            att_by_cohort=ser(d["att_by_cohort"], "att"),
            att_by_event_time=ser(d["att_by_event_time"], "att"),
            att_by_group={g: ser(s, "att", int_index=False) for g, s in d["att_by_group"].items()},
            indirect=pd.DataFrame(d["indirect"]).T[["a", "b", "indirect"]],
            effects=eff,
            params=params,
            seed=d["seed"],
            missing_counts=d["missing_counts"],
            extra=d.get("extra", {}),
        )


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    if v is pd.NA or v is None:
        return None
    return v


# ------------------------------------------------------------------ the DGP
def _standardize(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _gap(x: np.ndarray, treated: np.ndarray) -> float:
    return float(x[treated].mean() - x[~treated].mean())


def _center_by_group(x: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Standardise within treated and control groups: a city-level draw then
    carries no treated-control gap and the same spread in both groups."""
    out = x.copy()
    for g in (treated, ~treated):
        out[g] = (out[g] - out[g].mean()) / out[g].std()
    return out


def _validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    need = FRAME_COLUMNS + ["is_sub_provincial"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}; pass lib.data.facts.sample_frame().")
    if frame["city_id"].duplicated().any():
        raise ValueError(f"frame has {int(frame['city_id'].duplicated().sum())} duplicated "
                         "city_id values; pass one row per city.")
    f = frame.sort_values("city_id").reset_index(drop=True).copy()
    f["adoption_year"] = pd.array(f["adoption_year"], dtype="Int64")
    return f


def simulate_city_panel(frame: pd.DataFrame | None = None,
                        params: SyntheticParams | None = None,
                        seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, Truth]:
    r"""Simulate the semi-synthetic city panel with a known treatment effect.

    Parameters
    ----------
    frame : pandas.DataFrame, optional
        The city frame (one row per city; columns of
        :func:`lib.data.facts.sample_frame` -- ``city_id`` ... ``adoption_year`` and
        ``is_sub_provincial``). Default ``lib.data.facts.sample_frame()``.
    params : SyntheticParams, optional
        Teaching knobs; default ``SyntheticParams()`` (the shipped panel).
    seed : int, default :data:`DEFAULT_SEED`
        Seed of ``numpy.random.default_rng``; all draws in a fixed order.

    Returns
    -------
    panel : pandas.DataFrame
        One row per city-year (2010-2021), sorted by ``city_id, year``, columns
        :data:`PANEL_COLUMNS`.
    truth : Truth
        The true effects. For the sector employment table behind ``Spec`` use
        :func:`simulate_city_panel_tables`.

    Notes
    -----
    Latent development factor (unit variance, exactly linear selection):

    .. math::

        D_i = s\,\rho\,\tilde G_i + \sqrt{1 - s^2\rho^2}\;\tilde z_i ,

    where :math:`\tilde G_i` standardises
    :math:`G_i = T_i(1 + c_{g(i)}) + 0.5\,\mathrm{muni}_i + 0.3\,\mathrm{cap}_i
    + 0.2\,\mathrm{subprov}_i`, :math:`\tilde z_i` is standard normal noise
    residualised on :math:`(1, T_i, \tilde G_i)`, :math:`s` is
    ``selection_strength`` and :math:`\rho` makes the treated-control gap of
    :math:`D` equal 1.9 at :math:`s = 1`. Control :math:`X`:

    .. math::

        X_{it} = \mu_X + \sigma_X\,\mathrm{std}\big(\alpha_X D_i + \beta_X e_{Xi}
        + c_X \tau_t + k_X h_i \tau_t + w_X u_{Xit}\big),

    with :math:`\tau_t` the standardised year, :math:`h_i = \max(D_i - q_{50}, 0)`,
    :math:`\alpha_X = \gamma_X / \mathrm{gap}(D \mid s=1)` (Table 5 gap in s.d.
    units :math:`\gamma_X`), pooled mean and s.d. set exactly to Table 3.
    Outcome, on the published scale:

    .. math::

        Y_{it}(0) = C\,e^{\lambda D_i + 0.9\,c_i + 0.25\,\sigma\,\varepsilon_{it}}
        + \delta_t + \textstyle\sum_k b_k \nu_{kit} + \theta h_i (t - 2010)
        + \pi\,[\min(e_{it}, -1) + 12]\,T_i ,

    :math:`Y_{it} = Y_{it}(0) + \tau_{it}`, :math:`\tau_{it} = d_{it} + \sum_k a_k b_k`
    on ``CBEC == 1`` rows (:math:`d_{it}` only on anticipation rows), with
    :math:`d_{it} = \bar d\,w_{it}/\overline{w}` and
    :math:`w_{it} = (1 + \mathrm{dyn}\min(e,4))\,(1 + H(g_i - 1))`;
    :math:`\bar d = \text{effect\_size}\,(1 - \sum_k \text{share}_k)` so the ATT is
    ``effect_size``. :math:`C` solves :math:`\max_{it} Y_{it} = 1` exactly, so
    :math:`Y(0)` and :math:`Y(1)` share one scale and tau is exact on it.
    Mediators :math:`M_{kit} = M_{kit}(0) + a_k\,\mathrm{CBEC}_{it}`, with
    :math:`\nu_{kit} \ge 0` the part of :math:`M_k(0)` that is not a city or year
    effect or a smooth trend. Spec is eq. (11) of the simulated sector
    employment, constructed so that Spec(1) - Spec(0) = a_Spec exactly against
    the observed national benchmark.
    """
    panel, sector, truth = simulate_city_panel_tables(frame, params, seed)
    return panel, truth


def simulate_city_panel_tables(frame: pd.DataFrame | None = None,
                               params: SyntheticParams | None = None,
                               seed: int = DEFAULT_SEED
                               ) -> tuple[pd.DataFrame, pd.DataFrame, Truth]:
    """As :func:`simulate_city_panel`, also returning the sector employment table.

    Returns
    -------
    panel, sector_employment, truth
        ``sector_employment`` has columns :data:`SECTOR_COLUMNS` (employment in
        10,000 persons) and omits the city-years whose sector data are
        'unavailable' (Spec missing).
    """
    if frame is None:
        from lib.data.facts import sample_frame  # noqa: PLC0415 (optional dependency at import)
        frame = sample_frame()
    p = params if params is not None else SyntheticParams()
    f = _validate_frame(frame)
    rng = np.random.default_rng(seed)
    n, T = len(f), len(YEARS)
    years = np.tile(YEARS, n)
    ci = np.repeat(np.arange(n), T)  # city index per row
    tstd = (years - YEARS.mean()) / YEARS.std()
    t0 = (years - BASE_YEAR).astype(float)

    adopt = f["adoption_year"].to_numpy(dtype=float, na_value=np.nan)
    T_i = ~np.isnan(adopt)
    adopt_r = adopt[ci]
    treated_r = T_i[ci]
    cbec = treated_r & (years >= np.nan_to_num(adopt_r, nan=9999))
    e = np.where(treated_r, years - np.nan_to_num(adopt_r, nan=0), np.nan)
    muni = f["is_municipality"].astype(bool).to_numpy()
    cap = f["is_provincial_capital"].astype(bool).to_numpy()
    sub = f["is_sub_provincial"].astype(bool).to_numpy()

    # ---- draws, in a fixed order ------------------------------------------
    z = rng.standard_normal(n)
    e_ctrl = {x: rng.standard_normal(n) for x in CONTROLS}
    u_ctrl = {x: rng.standard_normal(n * T) for x in CONTROLS}
    c_inno = rng.standard_normal(n)
    eps_inno = rng.standard_normal(n * T)
    nu = {m: rng.exponential(1.0, n * T) for m in MEDIATORS}
    e_med = {m: rng.standard_normal(n) for m in MEDIATORS}
    e_ind = rng.standard_normal((n, 2))
    e_ind_t = rng.standard_normal((n * T, 2))
    e_emp = rng.standard_normal(n)
    sector_shares = rng.dirichlet(_SECTOR_WEIGHTS * 60, n)
    u_miss = rng.random(n)  # Spec block
    u_miss_rows = rng.random((4, n * T))  # Spec extra, lnaca, Urban, Diginf/Envir

    # ---- latent development factor -----------------------------------------
    cohort_bonus = {2015: 1.0, 2016: 0.8, 2018: 0.5, 2019: 0.3, 2020: 0.15}
    cb = np.array([cohort_bonus.get(int(a), 0.3) if t else 0.0 for a, t in zip(adopt, T_i)])
    G = T_i * (1.0 + cb) + 0.5 * muni + 0.3 * cap + 0.2 * sub
    G_t = _standardize(G)
    delta_G = _gap(G_t, T_i)
    rho = min(1.9 / delta_G, 0.98)
    s = p.selection_strength
    if s * rho > 1:
        raise ValueError(f"selection_strength={s} too large: needs s * rho <= 1 (rho={rho:.3f}).")
    X = np.column_stack([np.ones(n), T_i, G_t])
    z_res = z - X @ np.linalg.lstsq(X, z, rcond=None)[0]
    z_t = z_res / z_res.std()
    D = s * rho * G_t + np.sqrt(1 - (s * rho) ** 2) * z_t
    gap_D1 = rho * delta_G  # gap of D at s = 1
    h = np.maximum(D - np.median(D), 0.0)
    Dr, hr = D[ci], h[ci]

    # ---- controls --------------------------------------------------------------
    latent: dict[str, np.ndarray] = {}
    for x in CONTROLS:
        tg = TARGETS[x]
        gamma = (tg["treated"] - tg["control"]) / tg["sd"]
        c, w, k = _TIME_SD[x], _WITHIN_SD[x], _CONF_SD[x]
        a = gamma / gap_D1
        var_h = float(np.var(hr * tstd))
        b2 = 1 - a**2 - c**2 - w**2 - k**2 * var_h
        if b2 < 0:
            a, b2 = np.sqrt(max(1 - c**2 - w**2 - k**2 * var_h, 0.0)), 0.0
        raw = (a * Dr + np.sqrt(b2) * _center_by_group(e_ctrl[x], T_i)[ci] + c * tstd
               + k * hr * tstd + w * u_ctrl[x])
        if x == "Infra":  # positive, right-skewed: log-normal with the target CV
            cv = tg["sd"] / tg["mean"]
            sig = np.sqrt(np.log1p(cv**2))
            v = np.exp(sig * _standardize(raw))
            v = v * tg["mean"] / v.mean()
        else:
            v = tg["mean"] + tg["sd"] * _standardize(raw)
        if x == "Urban":
            v = np.clip(v, 0.15, 1.0)
        latent[x] = v

    # ---- industry structure, city size, employment -----------------------------
    prim0 = np.clip(0.13 - 0.035 * D + 0.035 * e_ind[:, 0], 0.005, 0.4)
    tert0 = np.clip(0.36 + 0.055 * D + 0.05 * e_ind[:, 1], 0.2, 0.8)
    prim = np.clip(prim0[ci] - 0.003 * t0 + 0.004 * e_ind_t[:, 0], 0.001, None)
    tert = np.clip(tert0[ci] + 0.011 * t0 + 0.008 * e_ind_t[:, 1], 0.1, 0.9)
    sec = 1.0 - prim - tert
    base = years == BASE_YEAR
    industry_i = np.where(tert[base] > sec[base], "tertiary", "secondary")
    pop = np.exp(latent["lnpop"])  # 10,000 persons
    urban_pop = pop * latent["Urban"]
    size_i = np.where(urban_pop[base] >= MEGACITY_URBAN_POP, "megacity", "large_medium")
    emp_rate = 0.10 * np.exp(0.25 * D + 0.1 * e_emp)[ci] * np.exp(0.01 * t0)
    total_emp = pop * emp_rate

    # ---- true effects -----------------------------------------------------------------
    shares = np.array(p.indirect_shares)
    b = np.array(p.mediator_slopes)
    a_k = shares * p.effect_size / b
    ab = a_k * b
    region_i = f["region"].to_numpy()
    agg_i = f["agglomeration"].to_numpy()
    g = np.ones(n)
    for name, lev in (("region", region_i), ("industry", industry_i),
                      ("city_size", size_i), ("agglomeration", agg_i)):
        g += np.array([EFFECT_SHIFTS[name].get(v, 0.0) for v in lev])
    g += np.array([EFFECT_SHIFTS["cohort"].get(int(a), 0.0) if t else 0.0
                   for a, t in zip(adopt, T_i)])
    post_i = cbec
    g = g / (g[ci][post_i].mean() if post_i.any() else 1.0)
    het = 1.0 + p.heterogeneity * (g - 1.0)
    k_ant = int(p.anticipation)
    active = treated_r & (e >= -k_ant)
    dyn = 1.0 + p.dynamics * np.clip(np.nan_to_num(e), 0, 4)
    w_eff = np.where(active, dyn * het[ci], 0.0)
    d_bar = p.effect_size * (1 - shares.sum())
    w_mean = w_eff[cbec].mean() if cbec.any() else 1.0
    direct = d_bar * w_eff / w_mean
    indirect_row = np.where(cbec, ab.sum(), 0.0)

    # ---- mediators: untreated levels -------------------------------------------
    # Mediator shocks scale with city size (g_i, mean 1), so the slopes b_k are
    # identified mainly where innovation is large and small cities' Inno stays
    # near zero (the calibrated median). Spec's shocks scale with sqrt(g_i):
    # eq. (11) pins its employment-weighted mean at 1 each year, and big cities'
    # shocks would otherwise push small cities' untreated index below zero.
    g_size = np.exp(p.inno_dispersion * D)
    g_size = np.minimum(g_size / g_size.mean(), 5.0)[ci]
    sig_nu = p.noise * np.array([0.010, 0.050, 1.25])
    dig_base = np.exp(-3.1 + 0.55 * D + 0.15 * e_med["Diginf"])
    # Mediators share a common trend in levels, so parallel trends hold for the
    # first stage (eq. 9) too; the development-specific trends h_i * t switch on
    # with `confounding` (scaled so 2e-4, the teaching value, gives the full trend).
    kappa = p.confounding / 2e-4
    diginf0 = dig_base[ci] + dig_base.mean() * (np.exp(0.09 * t0) - 1) \
        + kappa * 0.01 * hr * t0 / 11 + sig_nu[0] * g_size * nu["Diginf"] \
        + p.mediator_confounding * sig_nu[0] * g_size * eps_inno
    envir0 = (62 + 6.0 * D + 1.5 * e_med["Envir"])[ci] + 0.6 * t0 + kappa * 0.3 * hr * t0 \
        + sig_nu[2] * g_size * nu["Envir"]
    spec_raw = np.exp(0.22 * D + 0.12 * e_med["Spec"])[ci] * (1 + kappa * 0.004 * hr * t0) \
        + sig_nu[1] * np.sqrt(g_size) * nu["Spec"]

    # ---- missingness (seeded; disjoint blocks) ---------------------------------
    n_spec_block_cities = 172
    prob = np.exp(-0.8 * D)
    order = np.argsort(u_miss ** (1.0 / prob))[::-1]  # weighted sampling w/o replacement
    block_cities = np.sort(order[:n_spec_block_cities])
    spec_miss = np.isin(ci, block_cities) & (years <= 2012)
    free = ~spec_miss & (years > 2012)
    extra = np.flatnonzero(free & (years == 2021))
    spec_miss[extra[np.argmin(u_miss_rows[0][extra])]] = True

    def pick(mask, k, u):
        idx = np.flatnonzero(mask)
        return idx[np.argsort(u[idx])[:k]]

    lnaca_miss = np.zeros(n * T, bool)
    lnaca_miss[pick(~spec_miss & ~treated_r, 9, u_miss_rows[1])] = True
    urban_miss = np.zeros(n * T, bool)
    urban_miss[pick(~spec_miss & ~lnaca_miss, 35, u_miss_rows[2])] = True
    clean = ~spec_miss & ~lnaca_miss & ~urban_miss
    diginf_miss = np.zeros(n * T, bool)
    diginf_miss[pick(clean, 24, u_miss_rows[3])] = True
    envir_miss = np.zeros(n * T, bool)
    envir_miss[pick(clean & ~diginf_miss, 10, 1 - u_miss_rows[3])] = True

    # ---- Spec via eq. (11) against the observed benchmark ----------------------
    avail = ~spec_miss
    # Eq. (11) divides by a national benchmark of the same year. Shift each
    # year's untreated index by a constant c_t (additive, so the city and year
    # effects absorb it and parallel trends hold for Spec) chosen so that the
    # employment-weighted mean of Spec0 + a*CBEC over the scored city-years is 1;
    # eq. (11) then returns exactly Spec0 + a*CBEC.
    c_t = np.empty(T)
    for j, yr in enumerate(YEARS):
        m = avail & (years == yr)
        c_t[j] = ((total_emp[m].sum() - (spec_raw[m] * total_emp[m]).sum()
                   - a_k[1] * (total_emp[m] * cbec[m]).sum()) / total_emp[m].sum())
    spec0 = spec_raw + c_t[years - YEARS[0]]
    spec_target = spec0 + a_k[1] * cbec
    ps_emp = spec_target * total_emp * 0.08  # producer-service employment
    rows = np.flatnonzero(avail)
    sector = pd.DataFrame({
        "city_id": np.repeat(f["city_id"].to_numpy()[ci[rows]], len(SECTORS)),
        "year": np.repeat(years[rows], len(SECTORS)),
        "sector": np.tile(SECTORS, len(rows)),
        "employment": (ps_emp[rows, None] * sector_shares[ci[rows]]).ravel(),
    })
    tot_tab = pd.DataFrame({"city_id": f["city_id"].to_numpy()[ci], "year": years,
                            "total_employment": total_emp})
    spec_idx = producer_service_agglomeration(sector, tot_tab)
    spec_obs = np.full(n * T, np.nan)
    spec_obs[rows] = spec_idx.to_numpy()  # both sorted by city_id, year

    # ---- outcome -----------------------------------------------------------------
    delta_t = 4e-5 * t0
    med_part = g_size * (b[0] * sig_nu[0] * nu["Diginf"] + b[2] * sig_nu[2] * nu["Envir"]) \
        + np.sqrt(g_size) * b[1] * sig_nu[1] * nu["Spec"]
    conf = p.confounding * hr * t0
    pre_dev = np.where(treated_r, p.pretrend * (np.minimum(np.nan_to_num(e), -1) + 12), 0.0)
    hub = _HUB["muni"] * muni + _HUB["sub"] * sub + _HUB["cap"] * cap
    lead = np.argmax(p.inno_dispersion * D + _SIGMA_CITY * c_inno + hub)
    hub[lead] += _HUB["leader"]  # the leading national innovation centre stands out
    hub = hub[ci]
    E = np.exp(p.inno_dispersion * Dr + _SIGMA_CITY * c_inno[ci] + hub
               + 0.25 * p.noise * eps_inno)
    R0 = delta_t + med_part + conf + pre_dev
    # floor: Y(1) >= 0 requires direct >= -(Y0 + indirect); solve C with the floor
    tau_pre = direct + indirect_row
    C = float(np.min((1.0 - R0 - tau_pre) / E))
    y0 = C * E + R0
    direct_f = np.maximum(direct, -(y0 + indirect_row))
    n_floored = int((direct_f != direct).sum())
    if n_floored:
        C = float(np.min((1.0 - R0 - direct_f - indirect_row) / E))
        y0 = C * E + R0
        direct_f = np.maximum(direct, -(y0 + indirect_row))
    tau = direct_f + indirect_row
    # floored rows sum to exactly 0 in real arithmetic; clip the 1e-19 rounding residue
    inno = np.maximum(y0 + tau, 0.0)
    inno = inno / inno.max()

    # ---- assemble -----------------------------------------------------------------
    panel = f.loc[ci, FRAME_COLUMNS].reset_index(drop=True)
    panel["year"] = years
    panel["treated"] = treated_r.astype(int)
    panel["CBEC"] = cbec.astype(int)
    panel["Inno"] = inno
    for x in CONTROLS:
        v = latent[x].copy()
        if x == "lnaca":
            v[lnaca_miss] = np.nan
        if x == "Urban":
            v[urban_miss] = np.nan
        panel[x] = v
    panel["Diginf"] = np.where(diginf_miss, np.nan, diginf0 + a_k[0] * cbec)
    panel["Spec"] = spec_obs
    panel["Envir"] = np.where(envir_miss, np.nan, envir0 + a_k[2] * cbec)
    panel["secondary_share"] = sec
    panel["tertiary_share"] = tert
    panel["industry"] = industry_i[ci]
    panel["urban_pop"] = urban_pop
    panel["city_size"] = size_i[ci]
    panel["total_employment"] = total_emp
    panel = panel[PANEL_COLUMNS]

    # ---- truth -------------------------------------------------------------------
    eff_rows = np.flatnonzero(active | cbec)
    effects = pd.DataFrame({
        "city_id": panel["city_id"].to_numpy()[eff_rows],
        "year": years[eff_rows],
        "adoption_year": adopt_r[eff_rows].astype(int),
        "event_time": e[eff_rows].astype(int),
        "CBEC": cbec[eff_rows].astype(int),
        "region": region_i[ci[eff_rows]],
        "industry": industry_i[ci[eff_rows]],
        "city_size": size_i[ci[eff_rows]],
        "agglomeration": agg_i[ci[eff_rows]],
        "direct": direct_f[eff_rows],
        "indirect": indirect_row[eff_rows],
        "tau": tau[eff_rows],
    })
    post = effects[effects["CBEC"] == 1]
    att = float(post["tau"].mean()) if len(post) else 0.0
    by_cohort = post.groupby("adoption_year")["tau"].mean().rename("att")
    by_group = {gname: post.groupby(gname)["tau"].mean().rename("att")
                for gname in ("region", "industry", "city_size", "agglomeration")}
    ev = pd.Series(tau + pre_dev - np.where(treated_r, p.pretrend * 11, 0.0))
    ev_df = pd.DataFrame({"e": e, "v": ev})[treated_r]
    by_e = ev_df.groupby("e")["v"].mean()
    by_e.index = by_e.index.astype(int)
    by_e = by_e.reindex(range(-5, 7)).rename("att")
    by_e.index.name = "event_time"
    indirect = pd.DataFrame({"a": a_k, "b": b, "indirect": ab}, index=list(MEDIATORS))
    ctrl_ok = panel[list(CONTROLS)].notna().all(axis=1)
    missing_counts = {v: int(panel[v].isna().sum()) for v in PANEL_COLUMNS
                      if panel[v].isna().any() and v not in ("batch", "adoption_year")}
    missing_counts.update({
        "N_controls_model": int(ctrl_ok.sum()),
        "N_Diginf_model": int((ctrl_ok & panel["Diginf"].notna()).sum()),
        "N_Spec_model": int((ctrl_ok & panel["Spec"].notna()).sum()),
        "N_Envir_model": int((ctrl_ok & panel["Envir"].notna()).sum()),
    })
    extra_info = {
        "att_direct": float(post["direct"].mean()) if len(post) else 0.0,
        "att_indirect": float(ab.sum()) if len(post) else 0.0,
        "inno_scale_C": C,
        "n_floored": n_floored,
        "rho": float(rho),
        "gap_D": float(_gap(D, T_i)),
        "cbec_mean": float(cbec.mean()),
        "n_megacity": int((size_i == "megacity").sum()),
        "n_tertiary": int((industry_i == "tertiary").sum()),
    }
    truth = Truth(att=att, att_by_cohort=by_cohort, att_by_event_time=by_e,
                  att_by_group=by_group, indirect=indirect, effects=effects,
                  params=asdict(p), seed=int(seed), missing_counts=missing_counts,
                  extra=extra_info)
    return panel, sector, truth


# --------------------------------------------------------------- calibration
def default_truth() -> Truth:
    """The truth of the shipped default panel (``data/derived/cbec_city_panel_truth.json``)."""
    return Truth.from_json(DERIVED / TRUTH_FILE)


def calibration_table(panel: pd.DataFrame) -> pd.DataFrame:
    """Target (Tables 3 and 5) vs achieved moments of the controls and ``Inno``.

    Parameters
    ----------
    panel : pandas.DataFrame
        A simulated panel.

    Returns
    -------
    pandas.DataFrame
        One row per variable: N, mean, s.d., treated and control means (pooled
        over all years, ``treated`` = ever treated), target and achieved.
    """
    rows = []
    tr = panel["treated"] == 1
    for x, tg in TARGETS.items():
        v = panel[x]
        rows.append(dict(variable=x, n=int(v.notna().sum()),
                         mean_target=tg["mean"], mean=v.mean(),
                         sd_target=tg["sd"], sd=v.std(),
                         treated_target=tg["treated"], treated=v[tr].mean(),
                         control_target=tg["control"], control=v[~tr].mean()))
    v = panel["Inno"]
    rows.append(dict(variable="Inno", n=int(v.notna().sum()), mean_target=INNO_TARGET["mean"],
                     mean=v.mean(), sd_target=np.nan, sd=v.std(), treated_target=np.nan,
                     treated=v[tr].mean(), control_target=np.nan, control=v[~tr].mean()))
    out = pd.DataFrame(rows).set_index("variable")
    out["gap_target"] = out["treated_target"] - out["control_target"]
    out["gap"] = out["treated"] - out["control"]
    return out


# -------------------------------------------------------------------- writing and checking
#: A regenerated value agrees with the shipped one when
#: ``|new - shipped| <= REGEN_RTOL * |shipped| + REGEN_ATOL``. The CSV files keep
#: ten significant digits (a rounding error of at most 5e-10, relative), and another
#: CPU's BLAS kernel may move the last bits of a float; 1e-9 admits both and nothing
#: a table of the book could show.
REGEN_RTOL = 1e-9
REGEN_ATOL = 1e-12
#: Differences reported per file before the rest are counted only.
_MAX_REPORTED = 10


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A frame as deterministic CSV bytes (fixed float format, ``\n`` line ends)."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def file_bytes(content: pd.DataFrame | str) -> bytes:
    """What a generated file holds on disk: CSV for a frame, UTF-8 for JSON text."""
    return csv_bytes(content) if isinstance(content, pd.DataFrame) else content.encode("utf-8")


def default_files(frame: pd.DataFrame | None = None, params: SyntheticParams | None = None,
                  seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame | str]:
    """The three shipped files at full precision (frames and JSON text), keyed by file name."""
    panel, sector, truth = simulate_city_panel_tables(frame, params, seed)
    return {PANEL_FILE: panel, SECTOR_FILE: sector[SECTOR_COLUMNS], TRUTH_FILE: truth.to_json()}


def write_with_manifest(files: dict[str, pd.DataFrame | str], out_dir: str | Path) -> dict[str, str]:
    """Write ``files`` (name -> frame or JSON text) and their ``SHA256SUMS``; return name -> digest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, content in files.items():
        data = file_bytes(content)
        (out / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    (out / "SHA256SUMS").write_bytes(
        "".join(f"{digests[name]}  {name}\n" for name in sorted(digests)).encode("utf-8"))
    return digests


def manifest_mismatches(out_dir: str | Path) -> list[str]:
    """Files under ``out_dir`` whose bytes differ from ``out_dir/SHA256SUMS`` (or are absent).

    This verifies the shipped artifact, not the generator: the manifest is of the
    files as written, on whatever machine wrote them.
    """
    out = Path(out_dir)
    sums_path = out / "SHA256SUMS"
    if not sums_path.exists():
        return [f"{shown_path(sums_path)}: absent"]
    problems = []
    for line in sums_path.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split("  ", 1)
        path = out / name
        if not path.exists():
            problems.append(f"{shown_path(path)}: listed in SHA256SUMS but absent")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{shown_path(path)}: bytes differ from its SHA-256 in SHA256SUMS")
    return problems


def _reread(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` through CSV at full precision, so its dtypes are those a reader of the file gets."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False, float_format="%.17g")))


def _rows_text(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:5])
    return f"{shown}{', ...' if len(rows) > 5 else ''}"


def frame_differences(new: pd.DataFrame, shipped: pd.DataFrame, where: str, *,
                      rtol: float = REGEN_RTOL, atol: float = REGEN_ATOL) -> list[str]:
    """Columns and rows in which ``new`` and ``shipped`` differ beyond the tolerance.

    Numbers agree when ``|new - shipped| <= rtol * |shipped| + atol`` (both NaN
    agree); every other value must be equal. Rows are counted from 0, the first
    data row (line 2 of a CSV file).
    """
    new = _reread(new)
    out = []
    if list(new.columns) != list(shipped.columns):
        extra = [c for c in new.columns if c not in shipped.columns]
        absent = [c for c in shipped.columns if c not in new.columns]
        out.append(f"{where}: columns differ (generator only: {extra}; file only: {absent}; "
                   f"or their order)")
    if len(new) != len(shipped):
        return out + [f"{where}: {len(shipped)} rows in the file, {len(new)} regenerated"]
    for col in [c for c in shipped.columns if c in new.columns]:
        a, b = new[col], shipped[col]
        numeric = all(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                      for s in (a, b))
        if numeric:
            x, y = a.to_numpy(float), b.to_numpy(float)
            with np.errstate(invalid="ignore"):
                bad = ~(np.isclose(x, y, rtol=rtol, atol=atol) | (np.isnan(x) & np.isnan(y)))
        else:
            bad = ~((a.astype(str) == b.astype(str)) | (a.isna() & b.isna())).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            detail = ""
            if numeric:
                rel = np.abs(x[rows] - y[rows]) / np.maximum(np.abs(y[rows]), atol)
                detail = f"; largest relative difference {np.nanmax(rel):.2g} (tolerance {rtol:g})"
            out.append(f"{where}: column {col!r} differs in {len(rows)} of {len(b)} rows "
                       f"(rows {_rows_text(rows)}){detail}")
    return out


def json_differences(new: Any, shipped: Any, where: str, *, rtol: float = REGEN_RTOL,
                     atol: float = REGEN_ATOL) -> list[str]:
    """Paths at which two JSON values differ (numbers within the tolerance agree)."""
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        number = (int, float)
        if isinstance(b, dict) and isinstance(a, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in a or key not in b:
                    out.append(f"{where}: {path}/{key} is only in the {'file' if key in b else 'generator'}")
                else:
                    walk(a[key], b[key], f"{path}/{key}")
        elif isinstance(b, list) and isinstance(a, list):
            if len(a) != len(b):
                out.append(f"{where}: {path} has {len(b)} items in the file, {len(a)} regenerated")
            else:
                for i, (x, y) in enumerate(zip(a, b)):
                    walk(x, y, f"{path}/{i}")
        elif (isinstance(a, number) and isinstance(b, number)
              and not isinstance(a, bool) and not isinstance(b, bool)):
            if not (np.isclose(a, b, rtol=rtol, atol=atol) or (np.isnan(a) and np.isnan(b))):
                out.append(f"{where}: {path} is {b!r} in the file, {a!r} regenerated "
                           f"(tolerance {rtol:g} relative)")
        elif a != b:
            out.append(f"{where}: {path} is {b!r} in the file, {a!r} regenerated")

    walk(new, shipped, "")
    return out


def regeneration_differences(files: dict[str, pd.DataFrame | str], out_dir: str | Path, *,
                             rtol: float = REGEN_RTOL, atol: float = REGEN_ATOL) -> list[str]:
    """How freshly generated ``files`` differ from the shipped ones under ``out_dir``.

    Values, not bytes, are compared (see :data:`REGEN_RTOL`), so the check holds on
    any CPU and BLAS kernel. Each entry names the file, the column or JSON path and
    the rows; an empty list means the generator reproduces the shipped data.
    """
    out = []
    for name, content in files.items():
        path = Path(out_dir) / name
        where = shown_path(path)
        if not path.exists():
            out.append(f"{where}: absent")
            continue
        if isinstance(content, pd.DataFrame):
            diffs = frame_differences(content, pd.read_csv(path), where, rtol=rtol, atol=atol)
        else:
            diffs = json_differences(json.loads(content), json.loads(path.read_text(encoding="utf-8")),
                                     where, rtol=rtol, atol=atol)
        if len(diffs) > _MAX_REPORTED:
            diffs = diffs[:_MAX_REPORTED] + [f"{where}: ... and {len(diffs) - _MAX_REPORTED} more"]
        out += diffs
    return out


def check_files(files: dict[str, pd.DataFrame | str], out_dir: str | Path) -> list[str]:
    """The shipped files against their manifest, then against a regeneration (empty: all agree)."""
    return manifest_mismatches(out_dir) + regeneration_differences(files, out_dir)


def write_default_panel(out_dir: str | Path = DERIVED, frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Write the default panel, sector table, truth JSON and ``SHA256SUMS``.

    Parameters
    ----------
    out_dir : path, default ``data/derived``
    frame : pandas.DataFrame, optional
        Default ``lib.data.facts.sample_frame()``.

    Returns
    -------
    dict
        File name -> sha256 hex digest.
    """
    return write_with_manifest(default_files(frame), out_dir)


def check_default_panel(out_dir: str | Path = DERIVED, frame: pd.DataFrame | None = None) -> list[str]:
    """Verify the shipped files (SHA256SUMS) and regenerate them (values within
    :data:`REGEN_RTOL`); return what differs, by file, column and rows."""
    return check_files(default_files(frame), out_dir)


def report_check(problems: list[str], what: str, write_command: str) -> int:
    """Print the outcome of a ``--check`` and return its exit code."""
    if problems:
        print(f"MISMATCH in {what}:\n  " + "\n  ".join(problems) +
              f"\nIf the generator changed on purpose, run `{write_command}` and commit the files.",
              file=sys.stderr)
        return 1
    print(f"OK: {what} match their SHA256SUMS, and a regeneration reproduces their values "
          f"(relative tolerance {REGEN_RTOL:g})")
    return 0


def summary_text(out_dir: str | Path = DERIVED) -> str:
    """The shipped panel's calibration table and truth, as text (``--summary``)."""
    panel = pd.read_csv(Path(out_dir) / PANEL_FILE)
    truth = Truth.from_json(Path(out_dir) / TRUTH_FILE)
    fmt = {"float_format": lambda v: f"{v:.5g}"}
    lines = ["Calibration (target = the paper's Tables 3 and 5):",
             calibration_table(panel).to_string(**fmt), "",
             f"True ATT = {truth.att:.6f} (direct {truth.extra.get('att_direct', float('nan')):.6f}, "
             f"indirect {truth.extra.get('att_indirect', float('nan')):.6f}); "
             f"rows floored: {truth.extra.get('n_floored')}",
             "By cohort:", truth.att_by_cohort.to_string(**fmt),
             "By event time:", truth.att_by_event_time.to_string(**fmt)]
    for group, series in truth.att_by_group.items():
        lines += [f"By {group}:", series.to_string(**fmt)]
    lines += ["Mediation paths:", truth.indirect.to_string(**fmt),
              f"Missing counts: {truth.missing_counts}"]
    return "\n".join(lines)


def generator_main(argv: list[str] | None, *, module: str, description: str, out_dir: str,
                   write: Callable[[], dict[str, str]], check: Callable[[], list[str]],
                   summary: Callable[[], str] | None = None) -> int:
    """The command line every generator shares: ``python -m MODULE --write | --check [| --summary]``.

    ``--write`` writes the files and their ``SHA256SUMS`` (printing the digests);
    ``--check`` verifies the shipped files and a regeneration (:func:`check_files`);
    ``--summary`` prints the generator's calibration and truth, where it has one.
    """
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    grp = ap.add_mutually_exclusive_group(required=True)
    grp.add_argument("--write", action="store_true", help=f"write the files under {out_dir}")
    grp.add_argument("--check", action="store_true",
                     help="verify the files against SHA256SUMS and a regeneration")
    if summary is not None:
        grp.add_argument("--summary", action="store_true",
                         help="print the shipped panel's calibration table and truth")
    args = ap.parse_args(argv)
    if getattr(args, "summary", False):
        print(summary())
        return 0
    if args.write:
        for name, digest in write().items():
            print(f"{digest}  {name}")
        return 0
    return report_check(check(), out_dir, f"python -m {module} --write")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m lib.data.synthetic --write | --check | --summary``."""
    return generator_main(argv, module="lib.data.synthetic", description=__doc__.splitlines()[0],
                          out_dir="data/derived/", write=write_default_panel, check=check_default_panel,
                          summary=summary_text)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

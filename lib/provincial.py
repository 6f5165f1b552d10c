r"""Semi-synthetic provincial panel of the companion paper (digital trade and FDI).

The companion paper {Truong} studies 31 Chinese provinces, 2012-2022: FDI /
GDP regressed on an entropy-weight digital-trade index (DT) with province and
year effects, two mediators and heterogeneity by infrastructure level. Its
provincial data are not published. The book therefore ships a panel that is
**real** in its frame -- the 31 provinces, their codes, names and NBS regions
(``data/raw/provinces.csv``) and the years -- and **synthetic with a known
truth** everywhere else, built like :mod:`lib.synthetic`:

* a latent digital-development level :math:`L_{it} = f_i + g_i\,s_t + \eta_{it}`
  (``f_i`` higher in the east and in municipalities, ``g_i`` a province's own
  growth, :math:`s_t = (t-2012)/10`) drives 14 indicators in six dimensions,
  one of them negative (digital-service trade restrictiveness); their
  log-levels load on L with :attr:`ProvincialParams.index_loading` times the
  table's loadings (the index is built on levels, so a larger factor makes it
  more convex in L and piles DT's within variation on a few leading
  provinces);
* DT is the pooled entropy-weight index of the indicators
  (:func:`lib.indices.entropy_index`), put on the paper's printed scale by the
  affine map :math:`DT = 11.728 + 1.218\,z(\text{index})` -- an entropy index
  lies in [0, 1], so the printed mean 11.728 cannot be one; the map keeps all
  within-province variation;
* the infrastructure level is the tertile (high / medium / low) of the
  province's foundational-environment score in the base year 2012;
* the controls share a common (f, s) component whose weight is solved so
  that the mean VIF of DT and the controls equals the printed 1.91;
* the mediators are the marketization index ``MI`` (higher = lower transaction
  costs) and log per-capita disposable income ``lnInc``:
  :math:`M_{it} = m_i + \delta^M s_t + a_M DT_{it} + u^M_{it}`. They respond
  to the *observed* DT, not to L, so :math:`a_M` is exactly what the FE
  regression of M on DT identifies (with or without the controls, which are
  exogenous and do not enter M);
* the outcome
  :math:`FDI_{it} = u_i + \nu_t + c'_{g(i)}DT_{it} + b_{MI}MI_{it} + b_{Inc}lnInc_{it}
  + X_{it}'\gamma + \varepsilon_{it}`, so the true total effect of DT in
  infrastructure group g is :math:`c'_g + a_{MI}b_{MI} + a_{Inc}b_{Inc}`;
  ``u_i`` is solved so that the pooled mean, s.d. and corr(DT, FDI) equal the
  printed 4.705, 1.197 and 0.524.

Entry points: :func:`simulate_province_panel` -> ``(panel, truth)``;
:class:`ProvincialTruth`; :func:`load_provincial_panel` (the data contract:
a reader's own file); :func:`chapter_data`; ``python -m lib.provincial
--write | --check`` (files under ``data/derived/fdi/`` and their SHA256SUMS).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lib.indices import entropy_index
from lib.synthetic import check_files, report_check, write_with_manifest

__all__ = ["DEFAULT_SEED", "YEARS", "INDICATORS", "CONTROLS", "MEDIATORS", "TARGETS",
           "ProvincialParams", "ProvincialTruth", "simulate_province_panel", "write_default_panel",
           "check_default_panel", "load_provincial_panel", "validate_provincial", "chapter_data",
           "ProvincialData", "apply_sample", "SAMPLES", "infrastructure_groups", "twfe_target"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 20241123
YEARS = np.arange(2012, 2023)
BASE_YEAR = 2012
DERIVED = ROOT / "data" / "derived" / "fdi"
PANEL_FILE = "fdi_province_panel.csv"
TRUTH_FILE = "fdi_province_panel_truth.json"

#: indicator -> (dimension, direction, loading on L, log-scale of units, noise s.d.)
INDICATORS: dict[str, tuple[str, int, float, float, float]] = {
    "domains": ("foundational environment", 1, 0.9, 3.0, 0.25),
    "broadband_users": ("foundational environment", 1, 0.6, 6.5, 0.15),
    "internet_penetration": ("foundational environment", 1, 0.25, 4.0, 0.05),
    "cargo_turnover": ("logistics", 1, 0.4, 8.0, 0.25),
    "express_revenue": ("logistics", 1, 1.0, 4.0, 0.30),
    "patents": ("technology", 1, 1.0, 10.0, 0.25),
    "rd_intensity": ("technology", 1, 0.5, 0.5, 0.15),
    "ecommerce_volume": ("industrial digitization", 1, 1.0, 7.0, 0.30),
    "digital_finance": ("industrial digitization", 1, 0.3, 5.5, 0.06),
    "software_income_share": ("digital industrialization", 1, 1.1, 1.0, 0.35),
    "ict_employment_share": ("digital industrialization", 1, 0.5, 0.8, 0.15),
    "gdp_per_capita": ("development potential", 1, 0.4, 1.6, 0.08),
    "trade_volume": ("development potential", 1, 1.0, 8.0, 0.35),
    "dstri": ("development potential", -1, -0.15, -1.0, 0.05),
}
DIMENSIONS = {k: v[0] for k, v in INDICATORS.items()}
DIRECTIONS = {k: v[1] for k, v in INDICATORS.items()}
CONTROLS = ("Struc", "Urban", "Stud", "Indus", "Tech")
CONTROL_LABELS = {"Struc": "tertiary / secondary value added", "Urban": "urbanization rate",
                  "Stud": "university students per 10,000", "Indus": "industrial value-added share",
                  "Tech": "technology-market turnover / GDP"}
MEDIATORS = ("MI", "lnInc")
EXTRA_CONTROLS = ("lnPGDP", "Open")
#: printed moments (paper, section 4.3)
TARGETS = dict(fdi_mean=4.705, fdi_sd=1.197, dt_mean=11.728, dt_sd=1.218, corr=0.524, mean_vif=1.91)
#: control -> (mean, s.d., loading on f, within noise share)
_CONTROL_MOMENTS = {"Struc": (1.25, 0.65, 0.55, 0.35), "Urban": (0.60, 0.12, 0.75, 0.15),
                    "Stud": (190.0, 80.0, 0.60, 0.25), "Indus": (0.32, 0.07, -0.35, 0.45),
                    "Tech": (0.015, 0.02, 0.65, 0.35)}
LEVELS = ("high", "medium", "low")
PANEL_COLUMNS = (["province", "province_zh", "code", "region", "is_municipality", "year", "FDI", "DT",
                  "dt_index", *CONTROLS, *MEDIATORS, *EXTRA_CONTROLS, "FDI_alt", "infra_score",
                  "infra_level"] + list(INDICATORS))


@dataclass(frozen=True)
class ProvincialParams:
    """Knobs of the provincial DGP.

    Parameters
    ----------
    direct : mapping
        True direct effect c'_g of DT on FDI by infrastructure level.
    a_mi, b_mi, a_inc, b_inc : float
        Paths DT -> MI -> FDI and DT -> lnInc -> FDI.
    alt_scale : float
        ``FDI_alt`` (log FDI per capita, the robustness outcome) responds to
        the causes of ``FDI`` times this factor.
    noise_sd : float
        s.d. of the FDI error (province-year).
    mi_noise_sd, inc_noise_sd : float
        s.d. of the province-year errors of the mediators ``MI`` and ``lnInc``.
    growth_sd : float
        Dispersion of provinces' own digital growth (the within variation of DT).
    index_loading : float
        Common factor on the indicators' loadings on L (their log-levels move
        by ``index_loading * loading`` per unit of L). The index is built on
        levels, so it is convex in L: with factor 1 the leading municipalities
        carried over half of DT's within variation, the low-infrastructure
        provinces almost none (Table 2's low slope had s.e. ~0.35 and the
        cluster-robust s.e. of every slope were too small, see
        ``tests/test_provincial.py``). 0.4 keeps the ranking and the skew of
        the levels but spreads the within variation over the provinces.
    """

    direct: Mapping[str, float] = field(default_factory=lambda: {"high": 0.72, "medium": 0.62,
                                                                 "low": 0.18})
    a_mi: float = 0.35
    b_mi: float = 0.30
    a_inc: float = 0.06
    b_inc: float = 1.50
    alt_scale: float = 0.8
    noise_sd: float = 0.25
    mi_noise_sd: float = 0.30
    inc_noise_sd: float = 0.05
    growth_sd: float = 0.35
    index_loading: float = 0.4
    control_gamma: Mapping[str, float] = field(default_factory=lambda: {
        "Struc": 0.15, "Urban": 1.0, "Stud": 0.001, "Indus": -1.0, "Tech": 3.0})


@dataclass(frozen=True)
class ProvincialTruth:
    """The known truth of a simulated provincial panel.

    ``total`` maps infrastructure level to the true total effect of DT on FDI
    (direct + both indirect paths); ``ate`` is its mean over province-years;
    ``indirect`` the true a·b per mediator.
    """

    seed: int
    params: dict
    total: dict
    direct: dict
    indirect: dict
    paths: dict
    ate: float
    alt_ate: float
    dt_affine: dict
    infra_rule: str
    groups: dict

    def effect_of(self, frame: pd.DataFrame) -> np.ndarray:
        """True total effect of DT per row (by the row's infrastructure level)."""
        return frame["province"].map(self.groups).map(self.total).to_numpy(float)

    def ate_on(self, frame: pd.DataFrame) -> float:
        """Mean true total effect over the rows of ``frame``."""
        return float(np.mean(self.effect_of(frame)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ProvincialTruth":
        return cls(**json.loads(text))


def province_frame() -> pd.DataFrame:
    """The 31 provinces (real: ``data/raw/provinces.csv``)."""
    frame = pd.read_csv(ROOT / "data" / "raw" / "provinces.csv")
    if len(frame) != 31:
        raise ValueError(f"data/raw/provinces.csv has {len(frame)} rows, expected 31")
    return frame


def infrastructure_groups(frame: pd.DataFrame, *, score: str = "infra_score", unit: str = "province",
                          time: str = "year", base_year: int | None = BASE_YEAR,
                          shares: tuple[float, float] = (1 / 3, 2 / 3)) -> pd.Series:
    """Infrastructure level per unit: high / medium / low by quantiles of ``score``.

    The rule (a parameter of the chapter, since the paper does not state one):
    the unit's ``score`` in ``base_year`` (its mean over all years if
    ``base_year`` is None) is cut at the quantiles ``shares``; the lowest
    third is "low". Fixing the group in the base year keeps it from responding
    to DT itself.
    """
    if score not in frame.columns:
        raise KeyError(f"infrastructure_groups: column {score!r} not in the panel")
    rows = frame if base_year is None else frame[frame[time] == base_year]
    if rows.empty:
        raise ValueError(f"infrastructure_groups: no rows in base year {base_year}")
    s = rows.groupby(unit)[score].mean()
    q = s.quantile(list(shares))
    lvl = np.where(s <= q.iloc[0], "low", np.where(s <= q.iloc[1], "medium", "high"))
    return pd.Series(lvl, index=s.index, name="infra_level")


def _vif_mean(frame: pd.DataFrame, cols) -> float:
    X = frame[list(cols)].to_numpy(float)
    X = (X - X.mean(0)) / X.std(0)
    return float(np.mean(np.diag(np.linalg.inv(np.corrcoef(X, rowvar=False)))))


def simulate_province_panel(params: ProvincialParams | None = None, seed: int = DEFAULT_SEED
                            ) -> tuple[pd.DataFrame, ProvincialTruth]:
    """Draw the provincial panel (31 provinces x 2012-2022) and its truth.

    Deterministic in ``seed`` (``numpy.random.default_rng``). See the module
    docstring for the equations.
    """
    p = params or ProvincialParams()
    rng = np.random.default_rng(seed)
    prov = province_frame()
    n, T = len(prov), len(YEARS)
    east = prov["region"].eq("East").to_numpy(float)
    muni = prov["is_municipality"].astype(bool).to_numpy(float)
    f = 0.9 * east + 0.6 * muni - 0.3 * prov["region"].isin(["West"]).to_numpy(float) \
        + 0.5 * rng.standard_normal(n)
    f = (f - f.mean()) / f.std()
    g = 1.0 + p.growth_sd * rng.standard_normal(n)
    s = (YEARS - YEARS[0]) / 10.0
    eta = np.zeros((n, T))
    for t in range(1, T):  # persistent province-year shocks to digital development
        eta[:, t] = 0.6 * eta[:, t - 1] + 0.08 * rng.standard_normal(n)
    L = f[:, None] + g[:, None] * s[None, :] + eta

    long = pd.DataFrame({
        "province": np.repeat(prov["province"].to_numpy(), T),
        "province_zh": np.repeat(prov["province_zh"].to_numpy(), T),
        "code": np.repeat(prov["code"].to_numpy(), T),
        "region": np.repeat(prov["region"].to_numpy(), T),
        "is_municipality": np.repeat(prov["is_municipality"].astype(bool).to_numpy(), T),
        "year": np.tile(YEARS, n),
    })
    Lf = L.ravel()
    for name, (_, _, load, scale, sd) in INDICATORS.items():
        raw = scale + p.index_loading * load * Lf + sd * rng.standard_normal(n * T)
        long[name] = np.exp(raw) if name != "dstri" else 1.0 / (1.0 + np.exp(-raw))
    idx = entropy_index(long[list(INDICATORS)], DIRECTIONS)
    z = (idx.index - idx.index.mean()) / idx.index.std()
    long["dt_index"] = idx.index.to_numpy()
    long["DT"] = TARGETS["dt_mean"] + TARGETS["dt_sd"] * z.to_numpy()
    dt = long["DT"].to_numpy()

    found = [k for k, v in INDICATORS.items() if v[0] == "foundational environment"]
    fstd = idx.standardised[found]
    long["infra_score"] = fstd.mean(axis=1).to_numpy()
    groups = infrastructure_groups(long)
    long["infra_level"] = long["province"].map(groups)

    fl, sl = np.repeat(f, T), np.tile(s, n)
    parts = {c: (load * fl + 0.5 * sl, np.repeat(rng.standard_normal(n), T) * np.sqrt(max(1 - load**2, 0.1)),
                 within * rng.standard_normal(n * T)) for c, (_, _, load, within) in _CONTROL_MOMENTS.items()}

    def controls(k):
        # k scales the controls' common (f, s) part: the one knob of their collinearity with DT
        out = {}
        for c, (mean, sd, _, _) in _CONTROL_MOMENTS.items():
            zc = k * parts[c][0] + parts[c][1] + parts[c][2]
            out[c] = mean + sd * (zc - zc.mean()) / zc.std()
        out["Tech"] = np.clip(out["Tech"], 0.0005, None)
        return out

    from scipy.optimize import brentq

    def vif_gap(k):
        return _vif_mean(pd.DataFrame({"DT": dt, **controls(k)}), ["DT", *CONTROLS]) - TARGETS["mean_vif"]

    # Solved to machine precision, not to a looser tolerance: a loose solver stops
    # wherever the last bits of the BLAS kernel's sums lead it, and the shipped
    # data must not depend on the CPU (tests/test_regeneration.py).
    try:  # the printed mean VIF, exactly (the draws are fixed; only k moves)
        k_vif = brentq(vif_gap, 0.3, 2.0, xtol=1e-15)
    except ValueError:
        k_vif = 1.0
    for c, v in controls(k_vif).items():
        long[c] = v
    long["lnPGDP"] = 10.8 + 0.35 * fl + 0.6 * sl + 0.05 * rng.standard_normal(n * T)
    long["Open"] = np.exp(-1.6 + 0.7 * fl + 0.3 * rng.standard_normal(n * T))

    mi_i, inc_i = np.repeat(0.8 * f + 0.6 * rng.standard_normal(n), T), np.repeat(0.25 * f, T)
    long["MI"] = 2.0 + mi_i + 0.5 * sl + p.a_mi * dt + p.mi_noise_sd * rng.standard_normal(n * T)
    long["lnInc"] = 9.3 + inc_i + 0.45 * sl + p.a_inc * dt + p.inc_noise_sd * rng.standard_normal(n * T)

    direct = long["infra_level"].map(p.direct).to_numpy(float)
    nu = 0.25 * s + np.where(YEARS == 2020, -0.15, 0.0) + 0.03 * rng.standard_normal(T)
    base = direct * dt + p.b_mi * long["MI"].to_numpy() + p.b_inc * long["lnInc"].to_numpy() \
        + np.tile(nu, n) + sum(p.control_gamma[c] * long[c].to_numpy() for c in CONTROLS) \
        + p.noise_sd * rng.standard_normal(n * T)
    u_alt = rng.standard_normal(n)
    # province effects u_i = lam * zbar_i + kap * v_i hit the printed mean, s.d. and corr
    dbar = pd.Series(dt).groupby(np.repeat(np.arange(n), T)).transform("mean").to_numpy()
    zbar = (dbar - dbar.mean()) / dbar.std()
    v = rng.standard_normal(n)
    v = v - np.polyfit(zbar[::T], v, 1)[0] * zbar[::T]
    vl = np.repeat((v - v.mean()) / v.std(), T)
    from scipy.optimize import least_squares

    def miss(x):
        y = base + x[0] * zbar + x[1] * vl
        return [np.std(y) - TARGETS["fdi_sd"], np.corrcoef(y, dt)[0, 1] - TARGETS["corr"]]

    # only the province means of `base` are replaced: the within variation,
    # and so every fixed-effects estimand, is untouched
    pid = np.repeat(np.arange(n), T)
    base = base - pd.Series(base).groupby(pid).transform("mean").to_numpy()
    sol = least_squares(miss, x0=[0.5, 0.5], bounds=([-10, 0], [10, 10]),
                        ftol=1e-15, xtol=1e-15, gtol=1e-15).x
    fdi = base + sol[0] * zbar + sol[1] * vl
    fdi = fdi - fdi.mean() + TARGETS["fdi_mean"]
    long["FDI"] = fdi
    long["FDI_alt"] = p.alt_scale * fdi + np.repeat(0.3 * u_alt, T) + 0.1 * rng.standard_normal(n * T) - 1.0

    indirect = {"MI": p.a_mi * p.b_mi, "lnInc": p.a_inc * p.b_inc}
    total = {k: float(v + sum(indirect.values())) for k, v in p.direct.items()}
    truth_kw = dict(
        seed=int(seed), params={k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(p).items()},
        total=total, direct={k: float(v) for k, v in p.direct.items()},
        indirect={k: float(v) for k, v in indirect.items()},
        paths={"a_MI": p.a_mi, "b_MI": p.b_mi, "a_lnInc": p.a_inc, "b_lnInc": p.b_inc},
        ate=0.0, alt_ate=0.0,
        dt_affine={"index_mean": float(idx.index.mean()), "index_sd": float(idx.index.std()),
                   "dt_mean": TARGETS["dt_mean"], "dt_sd": TARGETS["dt_sd"]},
        infra_rule=f"tertiles of the mean standardised foundational-environment indicators in {BASE_YEAR}",
        groups={k: str(v) for k, v in groups.items()})
    truth = ProvincialTruth(**truth_kw)
    ate = truth.ate_on(long)
    truth = ProvincialTruth(**{**truth_kw, "ate": ate, "alt_ate": p.alt_scale * ate})
    return long[PANEL_COLUMNS].reset_index(drop=True), truth


def calibration_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The printed moments next to the panel's."""
    got = {"fdi_mean": frame["FDI"].mean(), "fdi_sd": frame["FDI"].std(), "dt_mean": frame["DT"].mean(),
           "dt_sd": frame["DT"].std(), "corr": frame[["DT", "FDI"]].corr().iloc[0, 1],
           "mean_vif": _vif_mean(frame, ["DT", *CONTROLS])}
    return pd.DataFrame({"paper": pd.Series(TARGETS), "book": pd.Series(got)})


# ------------------------------------------------------------------------ files
def _files(seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame | str]:
    panel, truth = simulate_province_panel(seed=seed)
    return {PANEL_FILE: panel, TRUTH_FILE: truth.to_json()}


def write_default_panel(out_dir: str | Path = DERIVED) -> dict[str, str]:
    """Write the panel, its truth and ``SHA256SUMS`` under ``data/derived/fdi/``."""
    return write_with_manifest(_files(), out_dir)


def check_default_panel(out_dir: str | Path = DERIVED) -> list[str]:
    """Verify the shipped files (SHA256SUMS) and regenerate them (values within
    :data:`lib.synthetic.REGEN_RTOL`); return what differs, by file, column and rows."""
    return check_files(_files(), out_dir)


def default_truth() -> ProvincialTruth:
    return ProvincialTruth.from_json((DERIVED / TRUTH_FILE).read_text())


# ------------------------------------------------------------------- data contract
#: roles -> default column names
ROLES = {"unit": "province", "time": "year", "outcome": "FDI", "treatment": "DT",
         "controls": list(CONTROLS), "mediators": list(MEDIATORS), "group": "infra_level"}


def _read_columns(columns: str | Mapping | None) -> dict:
    if not columns:
        return {}
    if isinstance(columns, Mapping):
        return dict(columns)
    import yaml

    return dict(yaml.safe_load(Path(columns).read_text()) or {})


def validate_provincial(frame: pd.DataFrame, *, columns: str | Mapping | None = None,
                        source: str = "<frame>") -> pd.DataFrame:
    """Validate a provincial panel and return it with the book's column names.

    ``columns`` (a YAML file or dict) maps roles or names to the reader's
    columns: role keys ``unit, time, outcome, treatment, controls, mediators,
    group`` (the book's defaults in :data:`ROLES`) and/or ``columns:`` with
    plain renames ``your_name: book_name``. Required: unit, time, outcome,
    treatment, the five controls. Mediators, the infrastructure group and the
    extra columns are used when present.

    Raises
    ------
    lib.data.DataContractError
        Naming the file, the column and example rows.
    """
    from lib.data import DataContractError

    spec = _read_columns(columns)
    renames = dict(spec.get("columns", {}) or {})
    for role in ("unit", "time", "outcome", "treatment", "group"):
        if role in spec and spec[role] != ROLES[role]:
            renames[spec[role]] = ROLES[role]
    for role in ("controls", "mediators"):
        if role in spec:
            theirs = list(spec[role] or [])
            if len(theirs) != len(ROLES[role]):
                raise DataContractError(f"{source}: `{role}:` must list {len(ROLES[role])} columns "
                                        f"({', '.join(ROLES[role])}), got {theirs}", file=source, column=role)
            renames.update({a: b for a, b in zip(theirs, ROLES[role]) if a != b})
    df = frame.rename(columns=renames).copy()
    need = ["province", "year", "FDI", "DT", *CONTROLS]
    for c in need:
        if c not in df.columns:
            raise DataContractError(f"{source}: required column {c!r} ({'control' if c in CONTROLS else 'role'}) "
                                    f"is missing; columns are {list(df.columns)[:25]}. Fix: map it in the "
                                    f"column file.", file=source, column=c)
    for c in ["year", "FDI", "DT", *CONTROLS, *[m for m in MEDIATORS if m in df.columns]]:
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() & df[c].notna()
        if bad.any():
            rows = df.loc[bad, ["province", "year"]].head(5).to_records(index=False).tolist()
            raise DataContractError(f"{source}: column {c!r} has {int(bad.sum())} non-numeric values, "
                                    f"e.g. rows {rows}", file=source, column=c, rows=rows,
                                    n_rows=int(bad.sum()))
        df[c] = num
    dup = df.duplicated(["province", "year"], keep=False)
    if dup.any():
        rows = df.loc[dup, ["province", "year"]].head(5).to_records(index=False).tolist()
        raise DataContractError(f"{source}: {int(dup.sum())} rows share a (province, year), e.g. {rows}; "
                                "the panel needs one row per province and year",
                                file=source, column="province", rows=rows, n_rows=int(dup.sum()))
    df["year"] = df["year"].astype(int)
    return df.sort_values(["province", "year"]).reset_index(drop=True)


def load_provincial_panel(path: str | Path | None = None, *, columns: str | Mapping | None = None
                          ) -> pd.DataFrame:
    """Read (CSV, .dta, .parquet, .xlsx via :func:`lib.data.read_table`) and validate a panel."""
    from lib.data import read_table

    path = Path(path) if path else DERIVED / PANEL_FILE
    return validate_provincial(read_table(path), columns=columns, source=str(path))


#: named samples of the provincial chapters
SAMPLES = {"all": "all 31 provinces, 2012-2022",
           "no_municipalities": "without Beijing, Tianjin, Shanghai and Chongqing",
           "years_2012_2019": "2012-2019 (before COVID-19)",
           "years_2015_2022": "2015-2022",
           "east": "eastern provinces only"}


def apply_sample(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict]:
    """Restrict the provincial panel to a named sample (:data:`SAMPLES`)."""
    if name not in SAMPLES:
        raise ValueError(f"unknown provincial sample {name!r}; valid: {', '.join(SAMPLES)}")
    if name == "all":
        out = frame
    elif name == "no_municipalities":
        if "is_municipality" not in frame.columns:
            raise KeyError("sample 'no_municipalities' needs the column 'is_municipality'")
        out = frame[~frame["is_municipality"].astype(bool)]
    elif name.startswith("years_"):
        lo, hi = map(int, name.split("_")[1:])
        out = frame[frame["year"].between(lo, hi)]
    else:
        if "region" not in frame.columns:
            raise KeyError(f"sample {name!r} needs the column 'region'")
        out = frame[frame["region"].str.lower() == name]
    return out, {"name": name, "description": SAMPLES[name], "rows_before": len(frame),
                 "rows_after": len(out)}


@dataclass(frozen=True)
class ProvincialData:
    """What a provincial chapter estimates on (see :func:`chapter_data`)."""

    frame: pd.DataFrame
    sample: dict
    truth: ProvincialTruth | None
    source: str

    @property
    def synthetic(self) -> bool:
        return self.truth is not None

    def ate(self, frame: pd.DataFrame | None = None) -> float:
        return float("nan") if self.truth is None else self.truth.ate_on(self.frame if frame is None else frame)

    def banner(self):
        from IPython.display import Markdown

        n = len(self.frame)
        if self.synthetic:
            return Markdown(
                f"**What these numbers are.** Estimates on {self.source} (sample: *{self.sample['name']}*, "
                f"{n:,} province-years). The data are **semi-synthetic**: real provinces and years, "
                "simulated indicators, FDI, controls and mediators with a known true effect. They are "
                "not findings about China.")
        return Markdown(f"**What these numbers are.** Estimates on {self.source} (sample: "
                        f"*{self.sample['name']}*, {n:,} rows). No true effect is known for these "
                        "data, so the *truth* column is empty.")


def chapter_data(data_path: str = "", columns: str = "", sample: str = "all", *,
                 seed: int | None = None) -> ProvincialData:
    """The provincial panel a chapter's parameters point at.

    Empty ``data_path``: the shipped semi-synthetic panel (or a fresh draw with
    another ``seed``), with its truth. Otherwise the reader's file, validated
    by :func:`load_provincial_panel`, with no truth.
    """
    if data_path:
        frame, truth = load_provincial_panel(data_path, columns=columns or None), None
        source = f"the reader's panel `{Path(data_path).name}`"
    elif seed in (None, DEFAULT_SEED):
        frame, truth = load_provincial_panel(), default_truth()
        source = "the book's semi-synthetic provincial panel"
    else:
        frame, truth = simulate_province_panel(seed=int(seed))
        source = f"a semi-synthetic provincial panel drawn with seed {seed}"
    frame, info = apply_sample(frame, sample)
    return ProvincialData(frame=frame.reset_index(drop=True), sample=info, truth=truth, source=source)


def twfe_target(data: ProvincialData, result, frame: pd.DataFrame | None = None) -> float:
    """What a fitted TWFE slope on DT targets: the same regression with the
    outcome replaced by the true effect part :math:`\\tau_{g(i)} DT_{it}`.

    With effects that differ by group the pooled slope is a weighted average of
    the group effects (weights: each group's residual variance of DT); on a
    reader's data, nan.
    """
    from lib.did import twfe

    if data.truth is None:
        return float("nan")
    spec = result.spec
    frame = (data.frame if frame is None else frame).copy()
    frame["_tau_dt"] = data.truth.effect_of(frame) * frame[spec["dname"]]
    frame.loc[frame[spec["yname"]].isna(), "_tau_dt"] = np.nan
    kw = {k: spec[k] for k in ("dname", "idname", "tname", "controls", "vcov") if k in spec}
    return float(twfe(frame, yname="_tau_dt", **kw).params[spec["dname"]])


def main(argv: list[str] | None = None) -> int:
    """``python -m lib.provincial --write | --check``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    grp = ap.add_mutually_exclusive_group(required=True)
    grp.add_argument("--write", action="store_true")
    grp.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.write:
        for name, digest in write_default_panel().items():
            print(f"{digest}  {name}")
        return 0
    return report_check(check_default_panel(), "data/derived/fdi/", "python -m lib.provincial --write")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


# ------------------------------------------------------------------- chapter helpers
def index_of(frame: pd.DataFrame, *, pooled: bool = True, two_level: bool = False):
    """The entropy-weight DT index of the panel's indicators (:func:`lib.indices.entropy_index`)."""
    missing = [c for c in INDICATORS if c not in frame.columns]
    if missing:
        raise KeyError(f"the index needs the indicator columns {missing}; a reader's panel without "
                       "them can still run the empirical chapter, which uses DT as given")
    return entropy_index(frame[list(INDICATORS)], DIRECTIONS, dimensions=DIMENSIONS,
                         period=frame["year"].to_numpy(), pooled=pooled, two_level=two_level)


def weighting_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """Entropy weights against equal weights and the first principal component.

    Returns Spearman rank correlations (over province-years and over the
    provinces' 2022 ranking) of each alternative with the pooled entropy index.
    """
    from scipy.stats import spearmanr

    ent = index_of(frame)
    std = ent.standardised
    equal = std.mean(axis=1)
    Z = (std - std.mean()) / std.std().replace(0, 1)
    _, _, vt = np.linalg.svd(Z.to_numpy(), full_matrices=False)
    pc1 = Z.to_numpy() @ vt[0]
    pc1 = pc1 * np.sign(np.corrcoef(pc1, ent.index)[0, 1])
    alts = {"entropy, per-year weights": index_of(frame, pooled=False).index,
            "entropy, two-level": index_of(frame, two_level=True).index,
            "equal weights": equal, "first principal component": pd.Series(pc1, index=frame.index)}
    last = frame["year"] == frame["year"].max()
    rows = {k: {"rank corr., all province-years": spearmanr(ent.index, v)[0],
                f"rank corr., provinces in {frame['year'].max()}": spearmanr(ent.index[last], v[last])[0]}
            for k, v in alts.items()}
    return pd.DataFrame(rows).T


def plot_global_trade(table: pd.DataFrame, ax=None):
    """Paper's Table 1: export levels (bars) and growth (lines), 2019-2023."""
    from lib.figures import PALETTE, new_axes

    fig, ax = new_axes(ax)
    series = [("goods_export", "goods"), ("service_export", "services"),
              ("digital_delivery_export", "digitally delivered services")]
    table = table.reset_index() if "year" not in table.columns else table
    x = table["year"].to_numpy()
    width = 0.27
    colors = list(PALETTE.values()) if isinstance(PALETTE, dict) else list(PALETTE)
    ax2 = ax.twinx()
    for k, (col, label) in enumerate(series):
        ax.bar(x + (k - 1) * width, table[f"{col}_tn_usd"], width, color=colors[k % len(colors)],
               label=f"{label} (level)")
        growth = "digital_delivery_growth_pct" if col.startswith("digital") else f"{col}_growth_pct"
        ax2.plot(x, table[growth], marker="o", color=colors[k % len(colors)], lw=1.2, ls="--")
    ax.set_ylabel("exports, trillion USD (bars)")
    ax2.set_ylabel("growth, % (dashed lines)")
    ax2.axhline(0, color="grey", lw=0.6)
    ax.set_xticks(x)
    ax.legend(loc="upper left", frameon=False)
    return fig


def plot_index_heatmap(frame: pd.DataFrame, column: str = "DT", ax=None):
    """Index by province (rows, sorted by the last year) and year (columns)."""
    import matplotlib.pyplot as plt

    from lib.figures import new_axes

    wide = frame.pivot(index="province", columns="year", values=column)
    wide = wide.loc[wide.iloc[:, -1].sort_values(ascending=False).index]
    fig, ax = new_axes(ax, figsize=(7.5, 8.0)) if ax is None else new_axes(ax)
    im = ax.imshow(wide.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(wide)), wide.index, fontsize=7)
    ax.set_xticks(range(wide.shape[1]), wide.columns, fontsize=7, rotation=90)
    ax.grid(False)
    plt.colorbar(im, ax=ax, label=column)
    return fig


def vif_table(frame: pd.DataFrame, columns=("DT", *CONTROLS)) -> pd.DataFrame:
    """Variance inflation factors (statsmodels) of DT and the controls, with their mean."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    from statsmodels.tools import add_constant

    X = add_constant(frame[list(columns)].dropna().astype(float))
    v = {c: variance_inflation_factor(X.to_numpy(), i) for i, c in enumerate(X.columns) if c != "const"}
    out = pd.Series(v, name="VIF").to_frame()
    out.loc["mean"] = out["VIF"].mean()
    return out


def robustness(frame: pd.DataFrame, *, controls=CONTROLS, vcov=None) -> dict:
    """The paper's robustness checks as TWFE fits (one column each).

    ``DT lagged``: DT of t-1 (endogeneity: a reverse effect of FDI on DT in t
    cannot move DT in t-1); ``added controls``: lnPGDP and Open when present;
    ``FDI_alt``: the other dependent variable when present; ``2012-2019`` and
    ``no municipalities``: other samples.
    """
    from lib.did import twfe

    vcov = vcov or {"CRV1": "province"}
    kw = dict(idname="province", tname="year", vcov=vcov)
    f = frame.sort_values(["province", "year"]).copy()
    lagged = f.groupby("province")["DT"].shift(1)
    f["DT_lag1"] = lagged.where(f.groupby("province")["year"].diff() == 1)
    out = {"baseline": twfe(f, yname="FDI", dname="DT", controls=controls, **kw),
           "DT lagged": twfe(f, yname="FDI", dname="DT_lag1", controls=controls, **kw)}
    extra = [c for c in EXTRA_CONTROLS if c in f.columns]
    if extra:
        out["added controls"] = twfe(f, yname="FDI", dname="DT", controls=[*controls, *extra], **kw)
    if "FDI_alt" in f.columns:
        out["FDI_alt"] = twfe(f, yname="FDI_alt", dname="DT", controls=controls, **kw)
    out["2012-2019"] = twfe(f, yname="FDI", dname="DT", controls=controls,
                            sample=f["year"].le(2019).to_numpy(), **kw)
    if "is_municipality" in f.columns:
        out["no municipalities"] = twfe(f, yname="FDI", dname="DT", controls=controls,
                                        sample=~f["is_municipality"].astype(bool).to_numpy(), **kw)
    return out


@dataclass(frozen=True)
class GroupSlopes:
    """DT's slope by infrastructure level: subsamples (the paper's Table 2) and one interacted model."""

    subsamples: dict
    interacted: Any
    wald: dict
    levels: tuple

    def tidy(self) -> pd.DataFrame:
        rows = []
        for lev in self.levels:
            c = self.subsamples[lev].coef("DT")
            i = self.interacted.coef(f"DT_{lev}")
            rows.append({"level": lev, "subsample": c["estimate"], "t": c["t"], "R2 within": self.subsamples[lev].r2,
                         "R2 with effects": self.subsamples[lev].extra["r2_inclusive"], "N": c["nobs"],
                         "interacted": i["estimate"], "interacted s.e.": i["std_error"]})
        return pd.DataFrame(rows).set_index("level")

    def plot(self, truth: Mapping[str, float] | None = None, paper: Mapping[str, float] | None = None, ax=None):
        from lib.figures import coefficient_plot

        frame = pd.DataFrame({lev: {"estimate": self.subsamples[lev].coef("DT")["estimate"],
                                    "ci_lower": self.subsamples[lev].conf_int().loc["DT"].iloc[0],
                                    "ci_upper": self.subsamples[lev].conf_int().loc["DT"].iloc[1]}
                              for lev in self.levels}).T
        if truth:
            frame["truth"] = pd.Series(truth)
        if paper:
            frame["paper"] = pd.Series(paper)
        return coefficient_plot(frame, truth="truth" if truth else None, paper="paper" if paper else None, ax=ax)


def group_slopes(frame: pd.DataFrame, *, group: str = "infra_level", controls=CONTROLS,
                 levels=LEVELS, vcov=None) -> GroupSlopes:
    r"""Slope of FDI on DT by group.

    Subsample: :math:`FDI_{it} = \beta_g DT_{it} + X'\gamma + \mu_i + \nu_t + \varepsilon` on the
    provinces of group g (the paper's Table 2). Interacted (one model, all provinces):
    :math:`\sum_g \beta_g 1[G_i=g] DT_{it}`, with the Wald test of equal
    :math:`\beta_g` (:func:`lib.heterogeneity.wald_equal`).
    :func:`lib.heterogeneity.group_effects` is written for a 0/1 treatment
    (it needs treated rows per level), hence this continuous-treatment version.
    """
    from lib.did import twfe
    from lib.heterogeneity import wald_equal

    if group not in frame.columns:
        raise KeyError(f"group_slopes: column {group!r} not in the panel (set infra_level or infra_score)")
    vcov = vcov or {"CRV1": "province"}
    kw = dict(idname="province", tname="year", vcov=vcov)
    f = frame.copy()
    subs = {lev: twfe(f[f[group] == lev], yname="FDI", dname="DT", controls=controls, **kw) for lev in levels}
    inter = [f"DT_{lev}" for lev in levels]
    for lev, col in zip(levels, inter):
        f[col] = f["DT"] * (f[group] == lev)
    res = twfe(f, yname="FDI", dname=inter[0], controls=[*inter[1:], *controls], **kw)
    wald = wald_equal(res.params, res.cov, inter, dof_resid=res.dof_resid)
    return GroupSlopes(subsamples=subs, interacted=res, wald=wald, levels=tuple(levels))


# ------------------------------------------------------- estimates against their targets
#: other draws of the panel over which the chapter averages the gaps estimate - target
#: (not hand-picked: the next twenty seeds after 100; tests/test_provincial.py uses them too)
GAP_SEEDS = tuple(range(101, 121))


def _within(frame: pd.DataFrame, cols) -> np.ndarray:
    """Two-way within transformation of a balanced province x year panel."""
    X = frame[list(cols)].to_numpy(float)
    gi = pd.DataFrame(X).groupby(frame["province"].to_numpy()).transform("mean").to_numpy()
    gt = pd.DataFrame(X).groupby(frame["year"].to_numpy()).transform("mean").to_numpy()
    return X - gi - gt + X.mean(0)


def fe_slopes(frame: pd.DataFrame, y: str, xs, controls=CONTROLS) -> dict:
    """FE OLS point estimates of ``y`` on ``xs`` + controls, province and year effects.

    A fast twin of :func:`lib.did.twfe` (same point estimates on a balanced
    panel, no standard errors) for loops over many simulated panels.
    """
    W = _within(frame, [y, *xs, *controls])
    beta = np.linalg.lstsq(W[:, 1:], W[:, 0], rcond=None)[0]
    return dict(zip(xs, beta[: len(xs)]))


def estimate_gaps(frame: pd.DataFrame, truth: ProvincialTruth) -> dict:
    """Gap (estimate - what the estimator targets) of the chapter's estimates on one panel.

    Pooled TWFE slope against its TWFE target (the regression of the true DT
    component on DT), Table 2's subsample slopes against the group effects,
    both paths a, and the three-step a·b against the true a·b.
    """
    tau = frame.assign(_tau=truth.effect_of(frame) * frame["DT"])
    out = {"pooled slope": fe_slopes(frame, "FDI", ["DT"])["DT"] - fe_slopes(tau, "_tau", ["DT"])["DT"]}
    for lev in LEVELS:
        sub = frame[frame["infra_level"] == lev]
        out[f"Table 2, {lev}"] = fe_slopes(sub, "FDI", ["DT"])["DT"] - truth.total[lev]
    for m in MEDIATORS:
        a = fe_slopes(frame, m, ["DT"])["DT"]
        b = fe_slopes(frame, "FDI", ["DT", m])[m]
        out[f"a: DT -> {m}"] = a - truth.paths[f"a_{m}"]
        out[f"a·b via {m}"] = a * b - truth.indirect[m]
    return out


def seed_gaps(seeds=GAP_SEEDS, sample: str = "all") -> pd.DataFrame:
    """:func:`estimate_gaps` on fresh draws of the panel (one row per seed), restricted to ``sample``."""
    rows = {}
    for s in seeds:
        df, truth = simulate_province_panel(seed=int(s))
        rows[int(s)] = estimate_gaps(apply_sample(df, sample)[0].reset_index(drop=True), truth)
    return pd.DataFrame(rows).T.rename_axis("seed")


def gap_table(rows: Mapping[str, tuple[float, float, float]], seeds: pd.DataFrame | None = None
              ) -> pd.DataFrame:
    """Estimates against their targets, in standard errors; with the mean gap over other draws.

    ``rows`` maps a label to (estimate, s.e., target). ``seeds`` (from
    :func:`seed_gaps`, same labels) adds the mean gap over those draws, its
    standard error and their ratio: a mean gap within about 2 s.e. of zero
    means the estimator is not biased for its target, whatever one draw shows.
    """
    out = pd.DataFrame({k: {"estimate": e, "s.e.": se, "target": t} for k, (e, se, t) in rows.items()}).T
    out["gap"] = out["estimate"] - out["target"]
    out["gap / s.e."] = out["gap"] / out["s.e."]
    if seeds is not None:
        cols = [c for c in out.index if c in seeds.columns]
        mean, sem = seeds[cols].mean(), seeds[cols].std(ddof=1) / np.sqrt(len(seeds))
        out[f"mean gap, {len(seeds)} draws"] = mean
        out["its s.e."] = sem
        out["mean gap / its s.e."] = mean / sem
    return out.astype(float)


def side(gap: float, tol: float = 5e-4) -> str:
    """'below' / 'above' / 'on' for a gap estimate - target."""
    return "on" if abs(gap) < tol else ("below" if gap < 0 else "above")


def gap_summary_text(table: pd.DataFrame, seeds_note: str = "") -> str:
    """One paragraph on :func:`gap_table`: where this draw's estimates lie and whether that is bias."""
    n, below = len(table), int((table["gap"] < 0).sum())
    z = table["gap / s.e."].abs()
    where = (f"all {n} estimates lie below their targets" if below == n else
             f"all {n} estimates lie above their targets" if below == 0 else
             f"{below} of {n} estimates lie below their targets, {n - below} above")
    text = (f"On this draw {where}, by {z.min():.1f} to {z.max():.1f} of their own standard errors "
            f"({int((z > 2).sum()) or 'none'} by more than 2).")
    mcol = next((c for c in table.columns if c.startswith("mean gap,")), None)
    if mcol is not None and table["mean gap / its s.e."].notna().all():
        inside = int((table["mean gap / its s.e."].abs() <= 2).sum())
        verdict = ("so the gaps of one draw are that draw's noise, not a bias of the estimators"
                   if inside == n else
                   f"the other {n - inside} point to a bias of those estimators for their targets")
        text += (f" Over {mcol.split(', ')[1].split()[0]} other draws of the panel the mean gaps run from "
                 f"{table[mcol].min():.3f} to {table[mcol].max():.3f}, and {inside} of {n} lie within "
                 f"2 standard errors of zero; {verdict}{seeds_note}.")
    return text


# --------------------------------------------------------------------- robustness
def robustness_targets(data: ProvincialData, rob: Mapping, frame: pd.DataFrame | None = None) -> dict:
    """What each column of :func:`robustness` targets (nan on a reader's data).

    The same regression with the outcome replaced by its true DT component
    (``FDI_alt``: times ``alt_scale``), on the same rows. ``DT lagged`` gets
    nan: FDI responds to same-year DT only in the simulation, so there is no
    effect of last year's DT to recover.
    """
    from lib.did import twfe

    if data.truth is None:
        return {k: float("nan") for k in rob}
    f = (data.frame if frame is None else frame).sort_values(["province", "year"]).copy()
    f["_tau"] = data.truth.effect_of(f) * f["DT"]
    f["_tau_alt"] = data.truth.params.get("alt_scale", 0.8) * f["_tau"]
    sample = {"2012-2019": f["year"].le(2019).to_numpy()}
    if "is_municipality" in f.columns:
        sample["no municipalities"] = ~f["is_municipality"].astype(bool).to_numpy()
    out = {}
    for name, res in rob.items():
        if name == "DT lagged":
            out[name] = float("nan")
            continue
        spec = res.spec
        y = "_tau_alt" if spec["yname"] == "FDI_alt" else "_tau"
        fit = twfe(f, yname=y, dname=spec["dname"], idname=spec["idname"], tname=spec["tname"],
                   controls=list(spec["controls"]), vcov=spec["vcov"], sample=sample.get(name))
        out[name] = float(fit.params[spec["dname"]])
    return out


def lag_persistence(frame: pd.DataFrame, controls=CONTROLS) -> float:
    """Within slope of DT on its one-year lag (province and year effects, controls).

    If FDI responds only to same-year DT, a regression of FDI on lagged DT
    recovers about the effect times this slope, not a delayed effect.
    """
    from lib.did import twfe

    f = frame.sort_values(["province", "year"]).copy()
    lag = f.groupby("province")["DT"].shift(1)
    f["DT_lag1"] = lag.where(f.groupby("province")["year"].diff() == 1)
    fit = twfe(f, yname="DT", dname="DT_lag1", idname="province", tname="year", controls=list(controls),
               vcov={"CRV1": "province"})
    return float(fit.params["DT_lag1"])


def lag_expected(data: ProvincialData, frame: pd.DataFrame | None = None, controls=CONTROLS) -> float:
    """What the lagged-DT regression picks up when FDI responds to same-year DT only.

    The regression of the true DT component :math:`\\tau_{g(i)} DT_{it}` on
    :math:`DT_{i,t-1}` with the same effects and controls (nan on a reader's data).
    """
    from lib.did import twfe

    if data.truth is None:
        return float("nan")
    f = (data.frame if frame is None else frame).sort_values(["province", "year"]).copy()
    f["_tau"] = data.truth.effect_of(f) * f["DT"]
    f["DT_lag1"] = f.groupby("province")["DT"].shift(1).where(f.groupby("province")["year"].diff() == 1)
    return float(twfe(f, yname="_tau", dname="DT_lag1", idname="province", tname="year",
                      controls=list(controls), vcov={"CRV1": "province"}).params["DT_lag1"])


#: how the prose names the robustness columns
ROBUSTNESS_PHRASES = {"added controls": "adding log GDP per capita and trade openness gives",
                      "FDI_alt": "log FDI per capita as the outcome",
                      "2012-2019": "the years 2012-2019",
                      "no municipalities": "the provinces without the four municipalities"}


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def robustness_text(rob: Mapping, targets: Mapping[str, float], *, persistence: float,
                    expected_lag: float = float("nan"), alpha: float = 0.05) -> tuple[str, str]:
    """Two passages on :func:`robustness`: the columns that re-estimate DT's effect, and the lag.

    Numbers come from the fits; the truth is mentioned only where ``targets``
    (and ``expected_lag``) are finite, i.e. on the semi-synthetic panel.
    """
    cols = [k for k in ROBUSTNESS_PHRASES if k in rob]
    c = {k: rob[k].coef(rob[k].spec["dname"]) for k in rob}
    parts = [f"{ROBUSTNESS_PHRASES[k]} {c[k]['estimate']:.3f} (s.e. {c[k]['std_error']:.3f})" for k in cols]
    first = _join(parts)
    n_sig = sum(c[k]["p"] < alpha and c[k]["estimate"] > 0 for k in cols)
    sig = (f"all {len(cols)} are positive and significant at {alpha:.0%} (CRV1)" if n_sig == len(cols) else
           f"{n_sig} of the {len(cols)} are positive and significant at {alpha:.0%} (CRV1)")
    text = f"{first[0].upper()}{first[1:]}; {sig}."
    gaps = {k: (c[k]["estimate"] - targets[k]) / c[k]["std_error"] for k in cols if np.isfinite(targets.get(k, np.nan))}
    if gaps:
        sides = {side(c[k]["estimate"] - targets[k]) for k in gaps}
        where = f"each lies {sides.pop()} its target" if len(sides) == 1 else "they lie on both sides of their targets"
        z = np.abs(list(gaps.values()))
        text += (f" Measured against what each column targets (the same regression on the true DT "
                 f"component, on the column's rows), {where}, by {z.min():.1f} to {z.max():.1f} s.e.")
    lag = c.get("DT lagged")
    if lag is None:
        return text, ""
    lag_text = (f"The lagged column gives {lag['estimate']:.3f} (s.e. {lag['std_error']:.3f}, "
                f"p = {lag['p']:.3f}). ")
    if np.isfinite(expected_lag):
        z = (lag["estimate"] - expected_lag) / lag["std_error"]
        fits = abs(z) <= 2
        strength = "weak" if abs(persistence) < 0.3 else "moderate" if abs(persistence) < 0.7 else "strong"
        lag_text += (f"In these data FDI responds to same-year DT only, so there is no lagged effect to "
                     f"recover and the table shows no truth for this column. The lagged slope picks up "
                     f"the same-year effect through the persistence of DT, which is {strength}: within a "
                     f"province, after the fixed effects and controls, last year's DT predicts this "
                     f"year's with a slope of {persistence:.3f}. The regression of the true DT component "
                     f"on lagged DT gives {expected_lag:.3f}, and the estimate lies "
                     f"{'within' if fits else 'further than'} 2 s.e. of it ({abs(z):.1f} s.e.)")
        lag_text += ((". The lagged slope here is what a same-year effect alone produces; its size says "
                      "nothing against that effect.") if fits else
                     ", more than the same-year effect alone explains.")
    else:
        lag_text += (f"Within a province, after the fixed effects and controls, last year's DT predicts "
                     f"this year's with a slope of {persistence:.3f}; if FDI responds to same-year DT "
                     f"only, the lagged slope recovers about that fraction of the effect, so it is not "
                     f"a test of whether DT matters.")
    return text, lag_text


def baseline_truth_text(beta: float, target: float, ate: float, ses: Mapping[str, float]) -> str:
    """The baseline slope against the mean true effect and against its TWFE target ('' without truth)."""
    if not np.isfinite(target):
        return ""
    gap = beta - target
    zs = " or ".join(f"{abs(gap) / se:.1f} {name}" for name, se in ses.items())
    return (f"The mean true effect over province-years is {ate:.3f}, but because the effect differs by "
            f"infrastructure level the regression targets a variance-weighted average of the group "
            f"effects, {target:.3f} on these data (the same regression with FDI replaced by its true DT "
            f"component); the first three rows compare with that target, the last with the mean. "
            f"Against its target the slope lies {abs(gap):.3f} {side(gap)}, {zs} standard errors.")


def mediation_truth_text(med: Mapping, truth: ProvincialTruth | None) -> str:
    """The mediation estimates next to the true paths ('' on a reader's data)."""
    if truth is None:
        return ""
    parts = [f"{m}: a = {res.a:.3f} against a true {truth.paths[f'a_{m}']:.3f}, a·b = {res.indirect:.3f} "
             f"(Sobel s.e. {res.indirect_se:.3f}) against {truth.indirect[m]:.3f}" for m, res in med.items()]
    return "The true paths of the simulation: " + "; ".join(parts) + "."


def between_share(frame: pd.DataFrame, column: str, unit: str = "province") -> float:
    """Share of a column's variance that lies between units (variance of unit means / total)."""
    x = frame[column].astype(float)
    return float(x.groupby(frame[unit]).transform("mean").var(ddof=0) / x.var(ddof=0))


def group_sizes_text(frame: pd.DataFrame, group: str = "infra_level", unit: str = "province") -> str:
    """Provinces per group in words: '9', '10 or 11', '9 to 12'."""
    n = sorted(set(frame.drop_duplicates(unit)[group].value_counts()))
    return str(n[0]) if len(n) == 1 else (f"{n[0]} or {n[1]}" if len(n) == 2 else f"{n[0]} to {n[-1]}")


# ------------------------------------------------------------------ chapter fdi_index words
def weight_rank_phrase(weights: pd.Series, name: str) -> str:
    """Where one indicator's weight ranks: 'the smallest of the 14', 'the 3rd smallest of the 14'."""
    k = int((weights < weights.loc[name]).sum()) + 1
    n = len(weights)
    if k == 1:
        return f"the smallest of the {n}"
    if k == n:
        return f"the largest of the {n}"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(k % 10 if k % 100 not in (11, 12, 13) else 0, "th")
    return f"the {k}{suffix} smallest of the {n}"


def weighting_phrases(comparison: pd.DataFrame, synthetic: bool) -> dict:
    """Words for the prose on :func:`weighting_comparison`, chosen from its numbers."""
    col = comparison.columns[0]
    rho = comparison[col]
    low = min(rho.loc["equal weights"], rho.loc["first principal component"])
    alike = ("rank almost alike" if low >= 0.95 else "rank similarly" if low >= 0.8 else "rank differently")
    d = rho.loc["entropy, per-year weights"] - rho.loc["equal weights"]
    per_year = "less" if d < -0.005 else "more" if d > 0.005 else "about as much"
    reason = (", because all the simulated indicators load on one latent development level"
              if synthetic and low >= 0.8 else "")
    return {"rank_alike": alike, "peryear_cmp": per_year, "rank_reason": reason}

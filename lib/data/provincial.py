r"""Semi-synthetic provincial panel of the companion paper (digital trade and FDI).

The companion paper {Truong} studies 31 Chinese provinces, 2012-2022: FDI /
GDP regressed on an entropy-weight digital-trade index (DT) with province and
year effects, two mediators and heterogeneity by infrastructure level. Its
provincial data are not published. The book therefore ships a panel that is
**real** in its frame -- the 31 provinces, their codes, names and NBS regions
(``data/raw/provinces.csv``) and the years -- and **synthetic with a known
truth** everywhere else, built like :mod:`lib.data.synthetic`:

* a latent digital-development level :math:`L_{it} = f_i + g_i\,s_t + \eta_{it}`
  (``f_i`` higher in the east and in municipalities, ``g_i`` a province's own
  growth, :math:`s_t = (t-2012)/10`) drives 14 indicators in six dimensions,
  one of them negative (digital-service trade restrictiveness); their
  log-levels load on L with :attr:`ProvincialParams.index_loading` times the
  table's loadings (the index is built on levels, so a larger factor makes it
  more convex in L and piles DT's within variation on a few leading
  provinces);
* DT is the pooled entropy-weight index of the indicators
  (:func:`lib.data.indices.entropy_index`), put on the paper's printed scale by the
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
a reader's own file); ``python -m lib.data.provincial
--write | --check`` (files under ``data/derived/fdi/`` and their SHA256SUMS).
The chapters' helpers (targets, robustness, words) are :mod:`lib.book.fdi`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from lib import ROOT
from lib.data.contract import PanelSpec
from lib.data.samples import PROVINCIAL_SAMPLES
from lib.data.samples import apply_sample as _apply_sample
from lib.data.indices import entropy_index
from lib.data.synthetic import check_files, generator_main, write_with_manifest

__all__ = ["DEFAULT_SEED", "YEARS", "INDICATORS", "CONTROLS", "MEDIATORS", "TARGETS",
           "ProvincialParams", "ProvincialTruth", "simulate_province_panel", "write_default_panel",
           "check_default_panel", "load_provincial_panel", "validate_provincial", "provincial_spec",
           "PROVINCIAL_PANEL",
           "apply_sample", "SAMPLES", "infrastructure_groups"]

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
#: What each indicator measures, in the companion paper's words (§3) where it names one.
INDICATOR_LABELS = {
    "domains": "internet domains", "broadband_users": "broadband users",
    "internet_penetration": "internet penetration", "cargo_turnover": "cargo turnover",
    "express_revenue": "express delivery revenue", "patents": "patents granted",
    "rd_intensity": "R&D intensity", "ecommerce_volume": "e-commerce transactions",
    "digital_finance": "digital finance index", "software_income_share": "software income share",
    "ict_employment_share": "ICT employment share", "gdp_per_capita": "GDP per capita",
    "trade_volume": "total trade volume", "dstri": "digital services trade restrictiveness",
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


def calibration_table(frame: pd.DataFrame, *, paper: bool = True) -> pd.DataFrame:
    """The panel's moments, next to the printed ones (``paper=False``: the panel's only, for a
    panel that is not the paper's)."""
    got = {"fdi_mean": frame["FDI"].mean(), "fdi_sd": frame["FDI"].std(), "dt_mean": frame["DT"].mean(),
           "dt_sd": frame["DT"].std(), "corr": frame[["DT", "FDI"]].corr().iloc[0, 1],
           "mean_vif": _vif_mean(frame, ["DT", *CONTROLS])}
    book = pd.Series(got)
    return pd.DataFrame({"paper": pd.Series(TARGETS), "book": book} if paper else {"book": book})


# ------------------------------------------------------------------------ files
def _files(seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame | str]:
    panel, truth = simulate_province_panel(seed=seed)
    return {PANEL_FILE: panel, TRUTH_FILE: truth.to_json()}


def write_default_panel(out_dir: str | Path = DERIVED) -> dict[str, str]:
    """Write the panel, its truth and ``SHA256SUMS`` under ``data/derived/fdi/``."""
    return write_with_manifest(_files(), out_dir)


def check_default_panel(out_dir: str | Path = DERIVED) -> list[str]:
    """Verify the shipped files (SHA256SUMS) and regenerate them (values within
    :data:`lib.data.synthetic.REGEN_RTOL`); return what differs, by file, column and rows."""
    return check_files(_files(), out_dir)


def default_truth() -> ProvincialTruth:
    return ProvincialTruth.from_json((DERIVED / TRUTH_FILE).read_text())


# ------------------------------------------------------------------- data contract
#: roles -> default column names
ROLES = {"unit": "province", "time": "year", "outcome": "FDI", "treatment": "DT",
         "controls": list(CONTROLS), "mediators": list(MEDIATORS), "group": "infra_level"}
#: The provincial panel in the book's one data contract (:class:`lib.data.PanelSpec`):
#: a continuous treatment (the digital-trade index) instead of a 0/1 adoption.
PROVINCIAL_PANEL = PanelSpec(unit="province", time="year", outcome="FDI", treatment="DT", adoption=None,
                             treatment_kind="continuous", controls=CONTROLS, mediators=MEDIATORS,
                             groups=("infra_level", "region", "province_zh", "is_municipality"))


#: The keys of a provincial column file. ``paper_panel: true`` declares the file the companion
#: paper's own panel: its printed numbers are then shown beside the estimates.
COLUMN_FILE_KEYS = ("unit", "time", "outcome", "treatment", "group", "controls", "mediators",
                    "columns", "paper_panel")


def paper_panel_declared(columns: str | Mapping | None) -> bool:
    """Whether the column file declares the companion paper's own panel (``paper_panel: true``)."""
    return _read_columns(columns).get("paper_panel", False) is True


def _read_columns(columns: str | Mapping | None) -> dict:
    if not columns:
        return {}
    if isinstance(columns, Mapping):
        return dict(columns)
    from lib.data.contract import _read_yaml   # names the file and the fix on invalid YAML

    return _read_yaml(columns)


def provincial_spec(columns: str | Mapping | None = None, *, frame: pd.DataFrame | None = None,
                    source: str = "<frame>") -> PanelSpec:
    """The :class:`lib.data.PanelSpec` of a reader's provincial panel, from its column file.

    The column file names the reader's columns by role (``unit, time, outcome,
    treatment, group``) and lists ``controls`` / ``mediators`` in the book's
    order (:data:`ROLES`), so each takes the book's name (the chapters cite
    ``Struc``, ``MI``, ...); ``columns:`` adds plain renames. Mediators the
    file does not list are used where the panel has them.
    """
    from lib.data import DataContractError
    from lib.data.contract import _close

    spec = _read_columns(columns)
    unknown = [k for k in spec if k not in COLUMN_FILE_KEYS]
    if unknown:
        hints = "; ".join(f"'{k}'" + (f" (did you mean '{_close(k, COLUMN_FILE_KEYS)[0]}'?)"
                                      if _close(k, COLUMN_FILE_KEYS) else "") for k in unknown)
        raise DataContractError(f"{source}: unknown key(s) {hints}. Valid keys: "
                                f"{', '.join(COLUMN_FILE_KEYS)}. Fix: correct the key, or put plain "
                                "renames under `columns:`.", file=source, column=unknown[0])
    if not isinstance(spec.get("paper_panel", False), bool):
        raise DataContractError(f"{source}: `paper_panel:` must be true or false, got "
                                f"{spec['paper_panel']!r}.", file=source, column="paper_panel")
    renames = dict(spec.get("columns", {}) or {})
    for role in ("controls", "mediators"):
        if role in spec:
            theirs = list(spec[role] or [])
            if role == "controls" and len(theirs) != len(ROLES[role]):
                raise DataContractError(f"{source}: `{role}:` must list {len(ROLES[role])} columns "
                                        f"({', '.join(ROLES[role])}), got {theirs}", file=source, column=role)
            renames.update({a: b for a, b in zip(theirs, ROLES[role]) if a != b})
    mediators = list(MEDIATORS)
    if "mediators" in spec:
        mediators = mediators[:len(spec["mediators"] or [])]
    elif frame is not None:  # the book's mediators, where the reader's panel has them
        present = set(frame.columns) | set(renames.values())
        mediators = [m for m in MEDIATORS if m in present]
    group = spec.get("group", ROLES["group"])
    if group != ROLES["group"]:
        renames[group] = ROLES["group"]
    mapping = {"unit": spec.get("unit", ROLES["unit"]), "time": spec.get("time", ROLES["time"]),
               "outcome": spec.get("outcome", ROLES["outcome"]),
               "treatment": spec.get("treatment", ROLES["treatment"]),
               "controls": list(CONTROLS), "mediators": mediators, "columns": renames}
    return PanelSpec.from_mapping(mapping, base=PROVINCIAL_PANEL, source=source)


def validate_provincial(frame: pd.DataFrame, *, columns: str | Mapping | None = None,
                        source: str = "<frame>") -> pd.DataFrame:
    """Validate a provincial panel and return it with the book's column names.

    Runs the book's one data contract (:func:`lib.data.validate_panel` with
    :data:`PROVINCIAL_PANEL`), so a provincial file gets every check a city
    file gets: named columns with "did you mean", numbers, whole years, one row
    per province and year, no missing outcome or identifier, no province seen in
    one year only. ``columns`` (a YAML file or dict) is read by
    :func:`provincial_spec`. The validation report is in ``attrs["report"]``.

    Raises
    ------
    lib.data.DataContractError
        Naming the file, the column and example rows.
    """
    from lib.data import validate_panel

    spec = provincial_spec(columns, frame=frame, source=source)
    panel = validate_panel(frame, spec=spec, canonical=PROVINCIAL_PANEL, source=source)
    out = panel.data
    out.attrs = {"source": source, "report": panel.report}
    return out


def load_provincial_panel(path: str | Path | None = None, *, columns: str | Mapping | None = None
                          ) -> pd.DataFrame:
    """Read (CSV, .dta, .parquet, .xlsx via :func:`lib.data.read_table`) and validate a panel."""
    from lib.data import read_table

    path = Path(path) if path else DERIVED / PANEL_FILE
    return validate_provincial(read_table(path), columns=columns, source=str(path))


#: named samples of the provincial chapters (one registry with the city panel's: lib.data.samples)
SAMPLES = PROVINCIAL_SAMPLES


def apply_sample(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict]:
    """Restrict the provincial panel to a named sample (:data:`lib.data.samples.PROVINCIAL_SAMPLES`)."""
    return _apply_sample(frame, name, spec=PROVINCIAL_PANEL, samples=PROVINCIAL_SAMPLES)


def main(argv: list[str] | None = None) -> int:
    """``python -m lib.data.provincial --write | --check``."""
    return generator_main(argv, module="lib.data.provincial", description=__doc__.splitlines()[0],
                          out_dir="data/derived/fdi/", write=write_default_panel, check=check_default_panel)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

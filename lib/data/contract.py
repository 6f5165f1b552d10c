"""The book's data contract: read a city-year panel, map its columns, validate it.

Every chapter starts from :func:`load_panel`. Without arguments it reads the
shipped semi-synthetic panel ``data/derived/cbec_city_panel.csv``; a reader who
has the real panel points it at their own file and every chapter recomputes.

Formats (chosen by the file suffix, see :func:`read_table`)
    ``.csv`` (also ``.csv.gz``/``.zip``/``.bz2``/``.xz``), ``.tsv``/``.tab``,
    Stata ``.dta``, ``.parquet``/``.pq``, Excel ``.xlsx``/``.xlsm``/``.xls``.
    Empty cells and the usual tokens (``NA``, ``n/a``, ``NaN``, ``null``) are
    read as missing by pandas; anything else that is not a number in a numeric
    column is an error (for example ``"1,234"``).

Canonical names
    Inside the book the panel always uses the default panel's names: unit
    ``city_id``, time ``year``, outcome ``Inno``, treatment dummy ``CBEC``
    (0/1, absorbing), adoption year ``adoption_year`` (nullable; missing =
    never treated in the window), controls ``lnpop lnaca lngdp Infra lngov
    lninter Urban Incoms``, mediators ``Diginf Spec Envir`` and group columns
    ``city city_zh province region is_municipality agglomeration industry
    city_size batch``.

Column file (YAML)
    Tells the book which of *your* columns plays which role. Every key is
    optional. Single-column roles left out keep the book's names (a column
    called ``year`` needs no ``time:``); ``controls`` and ``mediators`` left out
    are empty: your panel has only those you name. ``book_roles: true`` keeps
    the book's controls, mediators and groups (for a copy of the book's panel
    with other column names); ``paper_panel: true`` says the file is the paper's
    own city panel, so the book shows the paper's printed numbers beside its
    estimates (and keeps the book's roles)::

        unit: code                # your unit identifier  -> city_id
        time: yr                  # your year             -> year
        outcome: patents_index    # -> Inno
        adoption: pilot_year      # give adoption and/or treatment;
        # treatment: pilot        # the one left out is derived
        cluster: code             # default: the unit
        weights: popwt            # analytic weights of the regressions (default: none)
        controls: [lnpop, lnaca, lngdp, Infra, lngov, lninter, Urban, Incoms]
        mediators: [Diginf, Spec, Envir]   # [] if you have none
        groups: [region]          # grouping columns for the heterogeneity chapter
        columns:                  # any other renames: your name -> book name
          prov: province
          muni: is_municipality
        # how to read the file, and the loader's remedies (all optional):
        sheet: data               # Excel sheet (name or 0-based position)
        sep: ";"                  # CSV separator (default: guessed)
        decimal: ","              # CSV decimal mark (default ".")
        drop_missing_outcome: true
        allow_always_treated: true
        drop_singletons: true

    A file with none of these keys is read as a plain rename map
    (``your_name: book_name``). Role values name columns as they are in your
    file; controls, mediators and groups are renamed through ``columns``.

Errors
    Every failed check raises :class:`DataContractError` (a ``ValueError``)
    whose message names the file, the column, up to five offending unit/time
    pairs with the total count, and the fix.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lib import DATA

__all__ = [
    "CANONICAL",
    "CITY_PANEL",
    "DEFAULT_PANEL",
    "DataContractError",
    "FORMATS",
    "Panel",
    "PanelSpec",
    "load_panel",
    "model_frame",
    "read_table",
    "validate_panel",
]

#: The shipped semi-synthetic default panel.
DEFAULT_PANEL = DATA / "derived" / "cbec_city_panel.csv"

#: Canonical names of the five single-column roles.
CANONICAL = {
    "unit": "city_id",
    "time": "year",
    "outcome": "Inno",
    "treatment": "CBEC",
    "adoption": "adoption_year",
}

#: Supported formats and the suffixes that select them.
FORMATS = {
    "csv": (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz"),
    "tsv": (".tsv", ".tab", ".tsv.gz"),
    "stata": (".dta",),
    "parquet": (".parquet", ".pq"),
    "excel": (".xlsx", ".xlsm", ".xls"),
}

#: What a panel's treatment can be (:class:`PanelSpec`).
TREATMENT_KINDS = ("binary", "continuous")
_SPEC_KEYS = ("unit", "time", "outcome", "treatment", "adoption", "cluster", "weights",
              "controls", "mediators", "groups", "columns", "book_roles", "paper_panel")
#: Column-file keys that say how to read the file and which of the loader's remedies to apply.
LOADER_OPTIONS = ("sheet", "sep", "decimal", "drop_missing_outcome", "allow_always_treated",
                  "drop_singletons")
_FLAG_OPTIONS = ("drop_missing_outcome", "allow_always_treated", "drop_singletons")
#: Every key a column file may hold.
COLUMN_FILE_KEYS = (*_SPEC_KEYS, *LOADER_OPTIONS)
_N_EXAMPLES = 5
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


# ----------------------------------------------------------------------------- error
class DataContractError(ValueError):
    """A file or frame that breaks the data contract.

    Attributes ``file``, ``column``, ``rows`` (up to five example
    ``(unit, time)`` pairs) and ``n_rows`` (total offending rows) let tests and
    tools inspect the failure; the message says the same in words plus the fix.
    """

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 rows: Sequence[tuple] = (), n_rows: int | None = None):
        super().__init__(message)
        self.file = file
        self.column = column
        self.rows = list(rows)
        self.n_rows = n_rows


def _close(name: str, candidates: Sequence[str]) -> list[str]:
    """Close matches: exact up to case/blanks first, then difflib."""
    key = name.casefold().replace(" ", "").replace("_", "")
    exact = [c for c in candidates if str(c).casefold().replace(" ", "").replace("_", "") == key]
    fuzzy = difflib.get_close_matches(name, [str(c) for c in candidates], n=3, cutoff=0.6)
    return list(dict.fromkeys(exact + fuzzy))


def _listing(cols: Sequence[Any], k: int = 25) -> str:
    cols = [str(c) for c in cols]
    more = f", ... ({len(cols)} in all)" if len(cols) > k else ""
    return ", ".join(cols[:k]) + more


# ----------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class PanelSpec:
    """Which column plays which role in a panel.

    Parameters
    ----------
    unit, time, outcome : str
        Column names (as in the file) of the unit identifier, the period and
        the outcome.
    treatment, adoption : str or None
        The 0/1 treatment dummy and/or the adoption year; at least one. The
        one left out is derived by :func:`load_panel`. With a continuous
        treatment only ``treatment`` is given.
    cluster : str or None
        Cluster variable for inference; ``None`` means the unit.
    weights : str or None
        Positive analytic weights (e.g. population) for the regressions that take them
        (the two-way FE DID and the event study); ``None``: unweighted.
    controls, mediators, groups : tuple of str
        Control variables, mechanism variables and descriptive/grouping
        columns. Controls and mediators must exist; groups are kept if present.
    columns : dict
        Extra renames, reader name -> canonical name.
    paper_panel : bool
        The file is the paper's own panel: the book shows the paper's printed
        numbers beside its estimates.
    options : dict
        How to read the file and which remedies to apply (:data:`LOADER_OPTIONS`).
    treatment_kind : {"binary", "continuous"}
        ``"binary"`` (default): a 0/1 absorbing adoption, checked against the
        adoption year; ``"continuous"``: a treatment intensity (the companion
        paper's digital-trade index), checked as a number only, with no
        adoption year.
    """

    unit: str = "city_id"
    time: str = "year"
    outcome: str = "Inno"
    treatment: str | None = "CBEC"
    adoption: str | None = "adoption_year"
    cluster: str | None = None
    weights: str | None = None
    controls: tuple[str, ...] = ()
    mediators: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict, hash=False)
    treatment_kind: str = "binary"
    paper_panel: bool = False
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        if self.treatment_kind not in TREATMENT_KINDS:
            raise DataContractError(f"PanelSpec: treatment_kind must be one of {TREATMENT_KINDS}, got "
                                    f"{self.treatment_kind!r}", column="treatment_kind")
        if self.treatment_kind == "continuous":
            if not self.treatment or self.adoption:
                raise DataContractError("PanelSpec: a continuous treatment needs `treatment:` (the "
                                        "intensity column) and no `adoption:`", column="treatment")
        if self.treatment is None and self.adoption is None:
            raise DataContractError(
                "PanelSpec needs a treatment dummy or an adoption year (or both): "
                "set `treatment:` or `adoption:` in the column file.", column="treatment")
        if self.cluster is None:
            object.__setattr__(self, "cluster", self.unit)
        for name in ("controls", "mediators", "groups"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        object.__setattr__(self, "columns", dict(self.columns))
        object.__setattr__(self, "options", dict(self.options))

    # -- constructors -------------------------------------------------------------
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, base: "PanelSpec | None" = None,
                     source: str = "<mapping>") -> "PanelSpec":
        """Build a spec from a dict in the column-file format (see module docstring).

        Single-column roles left out keep ``base``'s value (default
        :data:`CITY_PANEL`), except that giving only one of
        ``treatment``/``adoption`` drops the other (it is derived) and that
        ``cluster`` follows ``unit`` unless given. ``controls`` and ``mediators``
        left out are empty unless ``book_roles`` or ``paper_panel`` is true;
        ``groups`` (kept only where present) keep ``base``'s.
        """
        base = CITY_PANEL if base is None else base
        mapping = dict(mapping or {})
        unknown = [k for k in mapping if k not in COLUMN_FILE_KEYS]
        if unknown:
            hints = "; ".join(f"'{k}'" + (f" (did you mean '{_close(k, _SPEC_KEYS)[0]}'?)"
                                          if _close(k, _SPEC_KEYS) else "") for k in unknown)
            raise DataContractError(
                f"{source}: unknown key(s) {hints}. Valid keys: {', '.join(COLUMN_FILE_KEYS)}. "
                "Fix: correct the key, or put plain renames under `columns:`.",
                file=source, column=unknown[0])
        kw: dict[str, Any] = {}
        for key in ("unit", "time", "outcome"):
            value = mapping.get(key, getattr(base, key))
            if not isinstance(value, str) or not value:
                raise DataContractError(f"{source}: `{key}:` must be one column name, got {value!r}.",
                                        file=source, column=key)
            kw[key] = value
        if "treatment" in mapping or "adoption" in mapping:
            kw["treatment"] = mapping.get("treatment")
            kw["adoption"] = mapping.get("adoption")
        else:
            kw["treatment"], kw["adoption"] = base.treatment, base.adoption
        if "cluster" in mapping:
            kw["cluster"] = mapping["cluster"]
        else:
            kw["cluster"] = None if base.cluster == base.unit else base.cluster
        weights = mapping.get("weights", base.weights)
        if weights is not None and (not isinstance(weights, str) or not weights):
            raise DataContractError(f"{source}: `weights:` must be one column name, got {weights!r}.",
                                    file=source, column="weights")
        kw["weights"] = weights
        flags = {}
        for key in ("book_roles", "paper_panel", *_FLAG_OPTIONS):
            value = mapping.get(key, False)
            if not isinstance(value, bool):
                raise DataContractError(f"{source}: `{key}:` must be true or false, got {value!r}.",
                                        file=source, column=key)
            flags[key] = value
        inherit = flags["book_roles"] or flags["paper_panel"]
        for key in ("controls", "mediators", "groups"):
            value = mapping.get(key, getattr(base, key) if inherit or key == "groups" else ())
            value = () if value is None else ((value,) if isinstance(value, str) else tuple(value))
            if not all(isinstance(v, str) for v in value):
                raise DataContractError(f"{source}: `{key}:` must be a list of column names, got {value!r}.",
                                        file=source, column=key)
            kw[key] = value
        cols = mapping.get("columns", base.columns) or {}
        if not isinstance(cols, Mapping):
            raise DataContractError(f"{source}: `columns:` must map your names to book names "
                                    f"(`your_name: book_name`), got {cols!r}.", file=source, column="columns")
        kw["columns"] = {str(k): str(v) for k, v in cols.items()}
        kw["treatment_kind"] = base.treatment_kind
        if kw["treatment_kind"] == "continuous":
            kw["adoption"] = None
        kw["paper_panel"] = flags["paper_panel"]
        options = {k: flags[k] for k in _FLAG_OPTIONS if flags[k]}
        for key in ("sep", "decimal"):
            if key in mapping:
                if not (isinstance(mapping[key], str) and len(mapping[key]) == 1):
                    raise DataContractError(f"{source}: `{key}:` must be one character (quote it, e.g. "
                                            f"`{key}: \";\"`), got {mapping[key]!r}.", file=source, column=key)
                options[key] = mapping[key]
        if "sheet" in mapping:
            if not isinstance(mapping["sheet"], (str, int)) or isinstance(mapping["sheet"], bool):
                raise DataContractError(f"{source}: `sheet:` must be a sheet name or a 0-based position, "
                                        f"got {mapping['sheet']!r}.", file=source, column="sheet")
            options["sheet"] = mapping["sheet"]
        if options.get("sep") and options.get("sep") == options.get("decimal"):
            raise DataContractError(f"{source}: `sep:` and `decimal:` are both {options['sep']!r}; a file "
                                    "separated by ';' usually has ',' as decimal mark.", file=source, column="sep")
        kw["options"] = options
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path, *, base: "PanelSpec | None" = None) -> "PanelSpec":
        """Read a column file (YAML, format in the module docstring).

        A file without any role key is read as a plain rename map and stored
        in ``columns``.
        """
        mapping = _read_yaml(path)
        if not any(k in COLUMN_FILE_KEYS for k in mapping):
            _check_rename_map(mapping, CITY_PANEL if base is None else base, str(path))
            mapping = {"columns": mapping}
        return cls.from_mapping(mapping, base=base, source=str(path))

    # -- helpers ------------------------------------------------------------------
    @property
    def numeric(self) -> tuple[str, ...]:
        """Columns that must be numeric (outcome, treatment, adoption, controls, mediators)."""
        roles = [self.outcome, self.treatment, self.adoption, *self.controls, *self.mediators,
                 self.weights]
        return tuple(dict.fromkeys(c for c in roles if c))

    def role(self, column: str) -> str:
        """The role of ``column`` in words (for messages)."""
        for key in ("unit", "time", "outcome", "treatment", "adoption", "cluster", "weights"):
            if getattr(self, key) == column:
                return key
        for key, word in (("controls", "control"), ("mediators", "mediator"), ("groups", "group")):
            if column in getattr(self, key):
                return word
        return "column"


#: The default panel's spec (canonical names).
CITY_PANEL = PanelSpec(
    unit="city_id", time="year", outcome="Inno", treatment="CBEC", adoption="adoption_year",
    cluster="city_id",
    controls=("lnpop", "lnaca", "lngdp", "Infra", "lngov", "lninter", "Urban", "Incoms"),
    mediators=("Diginf", "Spec", "Envir"),
    groups=("city", "city_zh", "province", "region", "is_municipality", "agglomeration",
            "industry", "city_size", "batch"),
)


def _check_rename_map(mapping: Mapping[str, Any], base: PanelSpec, source: str) -> None:
    """A column file without role keys is a rename map ``your_name: book_name``; a key that looks
    like a misspelt role (``outcom:``) or a value that is no book name would be ignored silently."""
    names = {n for spec in (base, CITY_PANEL) for n in (
        spec.unit, spec.time, spec.outcome, spec.treatment, spec.adoption, spec.cluster,
        *spec.controls, *spec.mediators, *spec.groups)} | set(CANONICAL.values())
    names.discard(None)
    for key, value in mapping.items():
        close = _close(str(key), COLUMN_FILE_KEYS)
        if close and str(value) not in names:
            raise DataContractError(
                f"{source}: unknown key '{key}' (did you mean '{close[0]}'?). Fix: correct the key; "
                f"valid keys: {', '.join(COLUMN_FILE_KEYS)}.", file=source, column=str(key))
        if str(value) not in names:
            raise DataContractError(
                f"{source}: '{key}: {value}' renames a column to '{value}', which is not a name the book "
                f"uses ({', '.join(sorted(names)[:12])}, ...). Fix: map your column to a book name, or "
                "give roles with keys such as `outcome:` and `controls:`.", file=source, column=str(key))


def _read_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path).expanduser()
    if not path.exists():
        raise DataContractError(f"column file not found: {path} (looked at {path.resolve()}). "
                                "Fix: check the `columns` parameter.", file=str(path))
    try:
        out = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception as err:  # yaml.YAMLError, UnicodeDecodeError
        raise DataContractError(f"{path}: not valid YAML ({str(err).splitlines()[0]}). "
                                "Fix: write one `key: value` per line (see lib.data).", file=str(path)) from None
    if out is None:
        return {}
    if not isinstance(out, dict):
        raise DataContractError(f"{path}: expected a mapping (`key: value` lines), got {type(out).__name__}.",
                                file=str(path))
    return out


def _resolve_spec(spec, columns) -> PanelSpec:
    if spec is None:
        spec = CITY_PANEL
    elif isinstance(spec, (str, Path)):
        spec = PanelSpec.from_yaml(spec)
    elif isinstance(spec, Mapping):
        spec = PanelSpec.from_mapping(spec)
    elif not isinstance(spec, PanelSpec):
        raise TypeError(f"spec must be a PanelSpec, a dict or a YAML path, got {type(spec).__name__}")
    if columns is None:
        return spec
    source = "<columns>"
    if isinstance(columns, (str, Path)):
        source, columns = str(columns), _read_yaml(columns)
    if not isinstance(columns, Mapping):
        raise TypeError(f"columns must be a dict or a YAML path, got {type(columns).__name__}")
    if any(k in COLUMN_FILE_KEYS for k in columns):
        return PanelSpec.from_mapping(columns, base=spec, source=source)
    _check_rename_map(columns, spec, source)
    return replace(spec, columns={**spec.columns, **{str(k): str(v) for k, v in columns.items()}})


# ----------------------------------------------------------------------------- reading
def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    for fmt, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return fmt
    return None


def read_table(path: str | Path, *, sheet: str | int | None = None, sep: str | None = None,
               decimal: str | None = None) -> pd.DataFrame:
    """Read one data file into a DataFrame, dispatching on the suffix.

    Parameters
    ----------
    path : str or Path
        File to read; the suffix picks the reader (see :data:`FORMATS`).
    sheet : str or int, optional
        Excel sheet (name or 0-based position); default the first sheet.
    sep, decimal : str, optional
        CSV separator (default: ``,``, or ``;``/tab/``|`` when the header shows
        one) and decimal mark (default ``.``).

    Returns
    -------
    DataFrame
        Columns as in the file (names stripped of surrounding blanks). Stata
        value labels are *not* applied; they are kept in
        ``frame.attrs["value_labels"]``. ``frame.attrs["notes"]`` lists what
        the reader guessed (separator, encoding, sheet).

    Raises
    ------
    DataContractError
        File not found, unsupported suffix, unreadable content, unknown sheet.
    """
    path = Path(path).expanduser()
    src = str(path)
    if not path.exists():
        raise DataContractError(
            f"data file not found: {src} (looked at {path.resolve()}). Fix: check the path "
            "(`data_path`); relative paths are read from the current folder.", file=src)
    if path.is_dir():
        raise DataContractError(f"{src} is a folder, not a data file. Fix: point `data_path` at the file.",
                                file=src)
    fmt = _format_of(path)
    if fmt is None:
        supported = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
        raise DataContractError(
            f"{src}: unsupported file type '{''.join(path.suffixes) or '(no suffix)'}'. Supported: "
            f"{supported}. Fix: save the panel in one of these formats (CSV is the simplest).", file=src)
    notes: list[str] = []
    labels: dict = {}
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if fmt in ("csv", "tsv") and magic == b"PK\x03\x04":   # a zip archive: an Excel workbook
        raise DataContractError(f"{src}: this file is an Excel workbook (or another zip archive), not a "
                                f"{fmt.upper()} text file. Fix: rename it to .xlsx, or save it from Excel as CSV.",
                                file=src)
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_delimited(path, sep or ("\t" if fmt == "tsv" else ","), notes,
                                    guess=sep is None, decimal=decimal or ".")
        elif fmt == "stata":
            frame, labels = _read_stata(path)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _read_excel(path, sheet, notes)
    except DataContractError:
        raise
    except ImportError as err:
        raise DataContractError(
            f"{src}: reading {fmt} files needs a package that is not installed ({err}). "
            "Fix: save the panel as .csv or .xlsx.", file=src) from None
    except Exception as err:
        reason = (str(err).splitlines() or [""])[0][:200]
        raise DataContractError(
            f"{src}: could not be read as a {fmt} file ({type(err).__name__}: {reason}). Fix: check that "
            f"the file really is {fmt} (open it in its program and re-save), or save it as CSV.",
            file=src) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataContractError(f"{src}: the file has a header ({_listing(frame.columns)}) but no rows. Fix: "
                                "check that it is the right file, or export the data again.", file=src)
    frame.attrs = {"source": src, "format": fmt, "notes": notes, "value_labels": labels}
    return frame


def _read_delimited(path: Path, sep: str, notes: list[str], *, guess: bool = True,
                    decimal: str = ".") -> pd.DataFrame:
    encoding = None

    def read(sep):
        return pd.read_csv(path, sep=sep, encoding=encoding, decimal=decimal, low_memory=False)

    try:
        frame = read(sep)
    except UnicodeDecodeError:
        encoding = "gb18030"
        frame = read(sep)
        notes.append("file is not UTF-8; read as GB18030 (Chinese Windows encoding)")
    header = list(pd.read_csv(path, sep=sep, encoding=encoding, nrows=1, header=None, dtype=str).iloc[0]) \
        if frame.shape[1] > 1 else []
    dup = sorted({str(h).strip() for h in header if [str(x).strip() for x in header].count(str(h).strip()) > 1})
    if dup:
        raise DataContractError(f"{path}: the header names {', '.join(repr(d) for d in dup)} more than once, "
                                "so one of them would be read under another name. Fix: rename or delete "
                                "the repeated column.", file=str(path), column=dup[0])
    if frame.shape[1] == 1 and guess:
        header = str(frame.columns[0])
        for alt in (";", "\t", "|"):
            if alt != sep and alt in header:
                frame = read(alt)
                notes.append(f"separator guessed as {alt!r}" + (
                    "; if numbers use a decimal comma, set `decimal: \",\"` in the column file"
                    if alt == ";" and decimal == "." else ""))
                break
    return frame


def _read_stata(path: Path) -> tuple[pd.DataFrame, dict]:
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - pyreadstat is a project requirement
        with pd.io.stata.StataReader(path) as reader:
            frame = reader.read(convert_categoricals=False)
            return frame, {}
    frame, meta = pyreadstat.read_dta(str(path), apply_value_formats=False)
    labels = {var: dict(meta.value_labels.get(lab, {}))
              for var, lab in (meta.variable_to_label or {}).items()}
    # pyreadstat returns missing strings as "" and some numeric columns as object
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].replace("", np.nan)
            converted = pd.to_numeric(frame[col], errors="coerce")
            if converted.notna().sum() == frame[col].notna().sum():
                frame[col] = converted
    return frame, labels


def _read_excel(path: Path, sheet, notes: list[str]) -> pd.DataFrame:
    book = pd.ExcelFile(path)
    names = book.sheet_names
    if sheet is None:
        if len(names) > 1:
            notes.append(f"read the first of {len(names)} sheets ('{names[0]}'; the workbook has "
                         f"{', '.join(repr(n) for n in names)}); set `sheet:` in the column file to choose")
        sheet = 0
    elif (isinstance(sheet, str) and sheet not in names) or (isinstance(sheet, int) and not 0 <= sheet < len(names)):
        raise DataContractError(
            f"{path}: no sheet {sheet!r}; the workbook has {', '.join(repr(n) for n in names)}. "
            "Fix: pass one of these as `sheet`.", file=str(path), column=None)
    return pd.read_excel(book, sheet_name=sheet)


# ----------------------------------------------------------------------------- panel
@dataclass(frozen=True, eq=False)
class Panel:
    """A validated panel in canonical names.

    Attributes
    ----------
    data : DataFrame
        One row per unit-period, canonical column names, sorted by unit and time.
    spec : PanelSpec
        The roles in canonical names (use these in estimator calls).
    source : str
        The file read (or ``"<DataFrame>"``).
    report : dict
        What was read and done: rows read, units, periods, balance, missing
        counts per column, renames, derived columns, dropped rows, notes.
    """

    data: pd.DataFrame
    spec: PanelSpec
    source: str
    report: dict

    def __repr__(self) -> str:
        r = self.report
        return (f"Panel({self.source!r}: {r['rows']} rows, {r['units']} units, "
                f"{r['first_period']}-{r['last_period']}, balanced={r['balanced']})")

    def describe(self) -> pd.DataFrame:
        """The report as a two-column frame (item, value), for the data chapter."""
        skip = {"missing", "renamed", "periods"}
        rows = [(k, v) for k, v in self.report.items() if k not in skip]
        rows += [(f"missing: {c}", n) for c, n in self.report["missing"].items() if n]
        return pd.DataFrame(rows, columns=["item", "value"])


class _Ctx:
    """Message helper: file name, reader-facing column labels, example rows."""

    def __init__(self, source: str, spec: PanelSpec, labels: dict[str, str]):
        self.source, self.spec, self.labels = source, spec, labels

    def col(self, canonical: str) -> str:
        reader = self.labels.get(canonical, canonical)
        role = self.spec.role(canonical)
        read_as = f", read as '{canonical}'" if reader != canonical else ""
        return f"column '{reader}' ({role}{read_as})"

    def examples(self, data: pd.DataFrame, mask, value: str | None = None) -> tuple[str, list, int]:
        mask = np.asarray(mask, dtype=bool)
        sub = data.loc[mask]
        u, t = self.spec.unit, self.spec.time
        ul, tl = self.labels.get(u, u), self.labels.get(t, t)
        pairs, parts = [], []
        for _, row in sub.head(_N_EXAMPLES).iterrows():
            uu = row[u] if u in sub else None
            tt = row[t] if t in sub else None
            pairs.append((uu, tt))
            cell = row[value].item() if value and isinstance(row[value], np.generic) else (
                row[value] if value else None)
            extra = f": {value}={cell!r}" if value else ""   # 0.0, not np.float64(0.0)
            parts.append(f"({ul}={_fmt(uu)}, {tl}={_fmt(tt)}{extra})")
        more = f" and {len(sub) - _N_EXAMPLES} more" if len(sub) > _N_EXAMPLES else ""
        return ", ".join(parts) + more, pairs, int(mask.sum())

    def fail(self, canonical: str | None, problem: str, fix: str, data=None, mask=None,
             value: str | None = None, what: str = "row") -> DataContractError:
        where = f"{self.source}, {self.col(canonical)}" if canonical else self.source
        if mask is not None:
            text, pairs, n = self.examples(data, mask, value)
            msg = f"{where}: {problem}; {n} {what}{'s' if n != 1 else ''}, e.g. {text}. Fix: {fix}"
        else:
            pairs, n = [], None
            msg = f"{where}: {problem}. Fix: {fix}"
        return DataContractError(msg, file=self.source, column=self.labels.get(canonical, canonical),
                                 rows=pairs, n_rows=n)


def _fmt(x) -> str:
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return str(int(x))
    return str(x)


def load_panel(path: str | Path | None = None, *, spec: PanelSpec | Mapping | str | Path | None = None,
               columns: Mapping[str, Any] | str | Path | None = None, sheet: str | int | None = None,
               drop_missing_outcome: bool = False, allow_always_treated: bool = False,
               drop_singletons: bool = False) -> Panel:
    """Read, map and validate a unit-period panel.

    Parameters
    ----------
    path : str or Path, optional
        CSV, Stata, Parquet or Excel file. ``None`` reads the shipped default
        panel :data:`DEFAULT_PANEL`.
    spec : PanelSpec, dict or YAML path, optional
        Column roles as in the file; default :data:`CITY_PANEL`.
    columns : dict or YAML path, optional
        A column file: either a full spec (it has role keys such as ``unit:``)
        or a plain rename map ``{your_name: book_name}`` applied on top of
        ``spec``.
    sheet : str or int, optional
        Excel sheet. This and the three options below can also be set in the
        column file (``sheet:``, ``drop_missing_outcome: true``, ...; also
        ``sep:`` and ``decimal:`` for a CSV); an argument given here wins.
    drop_missing_outcome : bool, default False
        Drop rows with a missing outcome (counted in ``report``) instead of
        raising.
    allow_always_treated : bool, default False
        Keep units treated from their first observed period (listed in
        ``report["always_treated"]``) instead of raising.
    drop_singletons : bool, default False
        Drop units observed in one period only (counted) instead of raising.

    Returns
    -------
    Panel
        Canonical data, canonical spec, source and report.

    Raises
    ------
    DataContractError
        On any broken check; the message names file, column and example rows.

    Examples
    --------
    >>> panel = load_panel()                                     # doctest: +SKIP
    >>> panel = load_panel("my.dta", columns="my_columns.yml")   # doctest: +SKIP
    """
    path = DEFAULT_PANEL if path is None else Path(path).expanduser()
    spec = _resolve_spec(spec, columns)
    opt = spec.options
    raw = read_table(path, sheet=opt.get("sheet") if sheet is None else sheet, sep=opt.get("sep"),
                     decimal=opt.get("decimal"))
    return validate_panel(raw, spec=spec, source=str(path),
                          drop_missing_outcome=drop_missing_outcome or opt.get("drop_missing_outcome", False),
                          allow_always_treated=allow_always_treated or opt.get("allow_always_treated", False),
                          drop_singletons=drop_singletons or opt.get("drop_singletons", False))


def validate_panel(frame: pd.DataFrame, *, spec: PanelSpec | None = None, source: str | None = None,
                   drop_missing_outcome: bool = False, allow_always_treated: bool = False,
                   drop_singletons: bool = False, canonical: PanelSpec | None = None) -> Panel:
    """Map and validate an in-memory frame; the checks of :func:`load_panel`.

    Parameters are those of :func:`load_panel`; ``source`` names the frame in
    messages (default ``frame.attrs["source"]`` or ``"<DataFrame>"``);
    ``canonical`` is the spec whose names the roles get (default
    :data:`CITY_PANEL`; the companion paper's panel uses
    ``lib.data.provincial.PROVINCIAL_PANEL``). A continuous treatment
    (``spec.treatment_kind``) is checked as a number; the adoption checks
    apply to a 0/1 treatment only.
    """
    spec = CITY_PANEL if spec is None else spec
    canonical = CITY_PANEL if canonical is None else canonical
    names = {r: getattr(canonical, r) for r in ("unit", "time", "outcome", "treatment", "adoption")}
    continuous = spec.treatment_kind == "continuous"
    attrs = dict(getattr(frame, "attrs", {}) or {})
    source = source or attrs.get("source") or "<DataFrame>"
    raw = frame.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    rows_read = len(raw)
    notes: list[str] = list(attrs.get("notes", []))

    # -- 1. locate and rename columns ----------------------------------------------
    cmap = dict(spec.columns)
    missing_keys = [k for k in cmap if k not in raw.columns]
    if missing_keys:
        k = missing_keys[0]
        hint = _close(k, list(raw.columns))
        raise DataContractError(
            f"{source}: column '{k}' (renamed to '{cmap[k]}' by the column map) not found"
            + (f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ".")
            + f" Columns in the file: {_listing(raw.columns)}. Fix: correct the name under `columns:`.",
            file=source, column=k)
    inverse = {v: k for k, v in cmap.items()}

    def locate(name: str) -> str | None:
        if name in raw.columns:
            return name
        if name in inverse and inverse[name] in raw.columns:
            return inverse[name]
        return None

    required = [(names[r], getattr(spec, r), r) for r in ("unit", "time", "outcome", "treatment", "adoption")
                if getattr(spec, r)]
    rename: dict[str, str] = {}
    problems = []
    for target, name, role in required:
        found = locate(name)
        if found is None:
            problems.append((name, role))
        else:
            rename[found] = target
    lists = [(c, "control") for c in spec.controls] + [(c, "mediator") for c in spec.mediators]
    if spec.cluster != spec.unit:
        lists.append((spec.cluster, "cluster"))
    if spec.weights:
        lists.append((spec.weights, "weights"))
    for name, role in lists:
        found = locate(name)
        if found is None:
            problems.append((name, role))
        elif found not in rename:
            rename[found] = cmap.get(found, found)
    if problems:
        lines = []
        for name, role in problems:
            hint = _close(name, list(raw.columns))
            key = {"control": "controls", "mediator": "mediators"}.get(role, role)
            lines.append(f"column '{name}' ({role}) not found"
                         + (f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else "")
                         + f" [set `{key}:` in the column file]")
        sheets = next((n for n in notes if n.startswith("read the first of")), "")
        raise DataContractError(
            f"{source}: " + "; ".join(lines) + f". Columns in the file: {_listing(raw.columns)}. "
            + (f"The loader {sheets}: the data may be on another sheet. " if sheets else "")
            + "Fix: rename the column in the file, or write a column file mapping your names to the roles "
            "(e.g. `outcome: my_outcome`, see lib.data); if you have no such control or mediator, "
            "leave it out of `controls:`/`mediators:`.",
            file=source, column=problems[0][0])
    absent_groups = []
    for g in spec.groups:
        found = locate(g)
        if found is None:
            absent_groups.append(g)
        elif found not in rename:
            rename[found] = cmap.get(found, found)
    for c in raw.columns:  # pass-through columns, renamed by the map if listed
        if c not in rename:
            rename[c] = cmap.get(c, c)
    targets = pd.Series(list(rename.values()), index=list(rename.keys()))
    dup = targets[targets.duplicated(keep=False)]
    if len(dup):
        name = dup.iloc[0]
        clash = list(dup[dup == name].index)
        raise DataContractError(
            f"{source}: columns {', '.join(repr(c) for c in clash)} would all become '{name}'. Fix: drop "
            f"or rename the extra one in the file, or map only one of them to '{name}'.",
            file=source, column=name)
    data = raw.rename(columns=rename)
    labels = {v: k for k, v in rename.items()}
    cspec = PanelSpec(
        unit=names["unit"], time=names["time"], outcome=names["outcome"],
        treatment=names["treatment"], adoption=None if continuous else names["adoption"],
        cluster=rename[locate(spec.cluster)] if spec.cluster != spec.unit else names["unit"],
        controls=tuple(rename[locate(c)] for c in spec.controls),
        mediators=tuple(rename[locate(c)] for c in spec.mediators),
        groups=tuple(rename[locate(g)] for g in spec.groups if g not in absent_groups),
        weights=rename[locate(spec.weights)] if spec.weights else None,
        treatment_kind=spec.treatment_kind, paper_panel=spec.paper_panel, options=spec.options,
    )
    ctx = _Ctx(source, cspec, labels)
    u, t, y, d, a = cspec.unit, cspec.time, cspec.outcome, cspec.treatment, cspec.adoption
    derived = [] if continuous else [c for c, r in ((d, "treatment"), (a, "adoption")) if not getattr(spec, r)]

    # -- 2. types --------------------------------------------------------------------
    if data[u].isna().any():
        raise ctx.fail(u, "missing unit identifier", "fill the identifier or delete these rows",
                       data, data[u].isna().to_numpy())
    if not pd.api.types.is_numeric_dtype(data[u]):
        stripped = data[u].map(lambda v: v.strip() if isinstance(v, str) else v)
        n_blank = int((stripped != data[u]).sum())
        if n_blank:   # " Beijing" and "Beijing" are one unit
            data[u] = stripped
            notes.append(f"removed blanks around {n_blank} unit identifiers")
        # one unit written two ways ("Beijing" and 110000) would become two units
        as_number = pd.to_numeric(data[u].map(lambda v: v.strip() if isinstance(v, str) else v),
                                  errors="coerce")
        if as_number.notna().any() and as_number.isna().any():
            names, codes = data.loc[as_number.isna(), u], data.loc[as_number.notna(), u]
            raise ctx.fail(u, f"identifiers mix codes and names (e.g. {codes.iloc[0]!r} and "
                              f"{names.iloc[0]!r}), so one unit may be written two ways",
                           "write every identifier the same way (all codes or all names)",
                           data, as_number.isna().to_numpy())
    data[u] = _maybe_int(data[u])
    if pd.api.types.is_datetime64_any_dtype(data[t]):
        data[t] = data[t].dt.year
        notes.append(f"time column '{labels.get(t, t)}' holds dates; their year is used")
    data[t] = _numeric(data, t, ctx)
    bad = data[t].isna().to_numpy()
    if bad.any():
        raise ctx.fail(t, "missing period", "fill the year or delete these rows", data, bad)
    bad = (data[t] != np.round(data[t])).to_numpy()
    if bad.any():
        raise ctx.fail(t, "the period is not a whole year", "use integer years (e.g. 2015)", data, bad, t)
    data[t] = data[t].astype("int64")
    for c in [y, *cspec.controls, *cspec.mediators] + [c for c in (d, a) if c and c not in derived]:
        data[c] = _numeric(data, c, ctx)
        _finite(data, c, ctx)
    if cspec.weights:
        w = cspec.weights
        data[w] = _numeric(data, w, ctx)
        bad = ~(np.isfinite(data[w].to_numpy(dtype="float64")) & (data[w].to_numpy(dtype="float64") > 0))
        if bad.any():
            raise ctx.fail(w, "weights that are missing, zero, negative or infinite",
                           "give every row a positive weight, delete these rows, or leave `weights:` "
                           "out of the column file", data, bad, w)
    for c in cspec.groups:
        data[c] = _tidy_group(data, c, ctx, attrs.get("value_labels", {}).get(labels.get(c, c)))
    for c in data.columns:
        if c not in cspec.numeric and c not in (u, t) and data[c].dtype == object:
            if data[c].dropna().map(lambda v: isinstance(v, str)).all():
                data[c] = data[c].astype("str")

    # -- 3. duplicates, sort ------------------------------------------------------------
    dup = data.duplicated([u, t], keep=False).to_numpy()
    if dup.any():
        raise ctx.fail(u, f"duplicate {labels.get(u, u)}-{labels.get(t, t)} pairs (the panel needs one row "
                          "per unit and period)",
                       "remove the repeated rows, or aggregate them to one row per unit and period",
                       data, dup)
    data = data.sort_values([u, t], kind="mergesort").reset_index(drop=True)

    # -- 4. treatment and adoption (a 0/1 adoption only) ----------------------------------
    always_units, n_after = [], 0
    if not continuous:
        always_units, n_after = _check_adoption(data, ctx, labels, derived, notes, allow_always_treated)

    # -- 5. outcome, singletons, empty ------------------------------------------------
    miss = data[y].isna().to_numpy()
    n_missing_outcome = int(miss.sum())
    if miss.any():
        if not drop_missing_outcome:
            raise ctx.fail(y, "missing outcome", "fill or delete these rows, or pass drop_missing_outcome=True "
                           "to drop them (the count is reported in panel.report)", data, miss)
        if miss.all():
            raise ctx.fail(y, "the outcome is missing everywhere, so the sample is empty after "
                              "drop_missing_outcome=True", "check that the outcome column is the right one",
                           data, miss)
        data = data.loc[~miss].reset_index(drop=True)
        notes.append(f"dropped {n_missing_outcome} rows with a missing outcome '{labels.get(y, y)}'")
    counts = data.groupby(u)[t].transform("size").to_numpy()
    single = counts == 1
    n_single = int(single.sum())
    if n_single:
        if not drop_singletons:
            raise ctx.fail(u, "unit observed in one period only (no within-unit variation for fixed effects)",
                           "delete these units, complete their other years, or pass drop_singletons=True",
                           data, single)
        data = data.loc[~single].reset_index(drop=True)
        notes.append(f"dropped {n_single} units observed in one period only")
    if data.empty:
        raise DataContractError(f"{source}: no rows left after the checks ({rows_read} read). Fix: check the "
                                "file and the options drop_missing_outcome/drop_singletons.",
                                file=source, column=labels.get(y, y), n_rows=0)

    # the ever-treated flag of the selection model and of matching on units (eq. 8 read
    # literally): derived from the adoption year when the file has none
    if not continuous and "treated" not in data.columns:
        data["treated"] = data[a].notna().astype("int64")
        derived.append("treated")

    # -- 6. report ---------------------------------------------------------------------
    periods = sorted(data[t].unique().tolist())
    per_unit = data.groupby(u)[t].nunique()
    report = {
        "source": source,
        "format": attrs.get("format", "DataFrame"),
        "rows_read": rows_read,
        "rows": len(data),
        "units": int(data[u].nunique()),
        "periods": periods,
        "first_period": periods[0],
        "last_period": periods[-1],
        "n_periods": len(periods),
        "balanced": bool((per_unit == len(periods)).all()),
        "treated_units": None if continuous else int(data.loc[data[d] == 1, u].nunique()),
        "cohorts": {} if continuous else {int(k): int(v) for k, v in
                                          data.drop_duplicates(u)[a].value_counts().sort_index().items()},
        "missing": {c: int(n) for c, n in data.isna().sum().items()},
        "renamed": {k: v for k, v in rename.items() if k != v},
        "derived": derived,
        "dropped_missing_outcome": n_missing_outcome if drop_missing_outcome else 0,
        "dropped_singletons": n_single if drop_singletons else 0,
        "adopted_after_window": n_after,
        "always_treated": [_fmt(x) for x in always_units],
        "absent_groups": absent_groups,
        "notes": notes,
    }
    data.attrs = {"source": source}
    return Panel(data=data, spec=cspec, source=source, report=report)


def _check_adoption(data: pd.DataFrame, ctx: "_Ctx", labels: dict, derived: list, notes: list,
                    allow_always_treated: bool) -> tuple[list, int]:
    """Step 4 of :func:`validate_panel` for a 0/1 adoption: the dummy, the adoption year, their
    agreement, late adopters and always-treated units (``data`` is changed in place)."""
    u, t, d, a = ctx.spec.unit, ctx.spec.time, ctx.spec.treatment, ctx.spec.adoption
    if d not in derived:
        bad = ~data[d].isin([0, 1]).to_numpy()
        if bad.any():
            vals = sorted(map(_fmt, pd.unique(data.loc[bad, d].astype(object))), key=str)[:5]
            raise ctx.fail(d, f"treatment is not 0/1 (values {', '.join(vals)})",
                           "code the treatment as a 0/1 dummy (1 from the adoption year on), or give only the "
                           "adoption year (`adoption:` in the column file) and let the book derive the dummy",
                           data, bad, d)
        data[d] = data[d].astype("int64")
        off = (data.groupby(u, sort=False)[d].diff() < 0).to_numpy()
        if off.any():
            raise ctx.fail(d, "treatment switches off (1 then 0; the design needs an absorbing treatment: once a "
                              "pilot, always a pilot)",
                           "check these rows; if the policy really ends, code the dummy as 1 after "
                           "adoption anyway (intention to treat) or drop the unit", data, off, d)
    if a not in derived:
        bad = (data[a].notna() & (data[a] != np.round(data[a]))).to_numpy()
        if bad.any():
            raise ctx.fail(a, "adoption year is not a whole year", "use integer years (e.g. 2016)", data, bad, a)
        nun = data.groupby(u, sort=False)[a].transform(lambda s: s.nunique(dropna=False))
        bad = (nun > 1).to_numpy()
        if bad.any():
            raise ctx.fail(a, "adoption year differs across the years of one unit",
                           "give each unit one adoption year (empty if never treated) on all its rows",
                           data, bad, a)
        data[a] = data[a].round().astype("Int64")
    last = int(data[t].max())
    if a in derived:
        first_on = data.loc[data[d] == 1].groupby(u)[t].min()
        data[a] = data[u].map(first_on).astype("Int64")
    elif d in derived:
        data[d] = (data[t] >= data[a]).fillna(False).astype("int64")
    else:
        expected = (data[t] >= data[a]).fillna(False).astype("int64")
        bad = (expected != data[d]).to_numpy()
        if bad.any():
            raise ctx.fail(d, f"treatment disagrees with the adoption year '{labels.get(a, a)}' "
                              f"(expected {d} = 1 exactly when year >= adoption year)",
                           "correct one of the two, or give only one of them (`treatment:` or `adoption:`; "
                           "the book derives the other)", data, bad, a)
    first = int(data[t].min())
    far = ((data[a] > last + 100) | (data[a] < first - 100)).fillna(False).to_numpy()
    if far.any():
        raise ctx.fail(a, f"adoption years far outside the panel's periods {first}-{last} (a typo, such "
                          "as 20160 for 2016?)",
                       "correct the year; a unit never treated gets an empty adoption year", data, far, a)
    after = (data[a] > last).fillna(False).to_numpy()
    n_after = int(data.loc[after, u].nunique())
    if n_after:
        notes.append(f"{n_after} units adopt after the last period ({last}); treated as never treated "
                     f"in the window (adoption_year set to missing)")
        data.loc[after, a] = pd.NA
    unit_first = data.groupby(u)[t].transform("min")
    always = (data[a] <= unit_first).fillna(False).to_numpy()
    always_units = list(pd.unique(data.loc[always, u]))
    if always_units and not allow_always_treated:
        raise ctx.fail(a, "treated from the unit's first observed period (adoption year <= that period), so "
                          "there is no pre-treatment period: such always-treated units serve neither as treated "
                          "nor as controls in a staggered DID",
                       "drop these units, or pass allow_always_treated=True to keep them (they are listed in "
                       "panel.report['always_treated'])", data,
                       always & (data[t] == unit_first).to_numpy(), a, what="unit")
    return always_units, n_after


def _maybe_int(s: pd.Series) -> pd.Series:
    """Integer-valued numeric (or numeric-string) identifiers -> int64; others unchanged."""
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all() and (num == np.round(num)).all():
        return num.astype("int64")
    return s.astype("str") if s.dtype == object else s


def _numeric(data: pd.DataFrame, col: str, ctx: _Ctx) -> pd.Series:
    s = data[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64")
    text = s.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = text.mask(text.map(lambda v: isinstance(v, str) and v == ""))
    num = pd.to_numeric(text, errors="coerce")
    bad = (text.notna() & num.isna()).to_numpy()
    if bad.any():
        vals = pd.Series(text[bad]).astype(str).value_counts()
        shown = ", ".join(f"'{v}' ({n}x)" for v, n in vals.head(5).items())
        comma = pd.Series(vals.index).str.fullmatch(r"-?\d+,\d+").all()
        raise ctx.fail(col, f"non-numeric values {shown}",
                       "the numbers use a decimal comma: set `decimal: \",\"` (and `sep: \";\"`) in the "
                       "column file" if comma else
                       "make the column numeric: remove thousands separators ('1,234' -> 1234) and units, and "
                       "write missing values as empty cells (or NA)", data, bad, col)
    return num.astype("float64")


def _finite(data: pd.DataFrame, col: str, ctx: _Ctx) -> None:
    """Infinite values (``inf``, ``-inf``) would pass as numbers and break every regression."""
    bad = np.isinf(data[col].to_numpy(dtype="float64"))
    if bad.any():
        raise ctx.fail(col, "infinite values (inf or -inf, e.g. the log of zero)",
                       "replace them in the file (by a missing value, or by a finite value if the "
                       "transformation allows one)", data, bad, col)


def _tidy_group(data: pd.DataFrame, col: str, ctx: _Ctx, value_labels: dict | None) -> pd.Series:
    s = data[col]
    if value_labels:
        s = s.map(lambda v: value_labels.get(v, v) if pd.notna(v) else v)
    if col == "is_municipality":
        if pd.api.types.is_bool_dtype(s):
            return s.astype(bool)
        key = s.map(lambda v: str(v).strip().casefold() if pd.notna(v) else None)
        bad = (~key.isin(_TRUE | _FALSE)).to_numpy()
        if bad.any():
            raise ctx.fail(col, "not a yes/no value", "write True/False (or 1/0) for every row", data, bad, col)
        return key.isin(_TRUE)
    if pd.api.types.is_float_dtype(s) and s.notna().any() and (s.dropna() == np.round(s.dropna())).all():
        return s.astype("Int64")
    if pd.api.types.is_integer_dtype(s):
        return s.astype("Int64")
    if s.dtype == object and s.dropna().map(lambda v: isinstance(v, str)).all():
        return s.astype("str")
    return s


# ----------------------------------------------------------------------------- model frame
def model_frame(data: pd.DataFrame | Panel, columns: Sequence[str], *,
                spec_name: str = "") -> tuple[pd.DataFrame, dict[str, int]]:
    """Complete cases of a model's columns, with a count of what was dropped.

    Parameters
    ----------
    data : DataFrame or Panel
    columns : sequence of str
        The model's columns (outcome, regressors, fixed effects, cluster).
        Repeats are ignored.
    spec_name : str, optional
        Names the model in messages (e.g. ``"table 3, column 2"``).

    Returns
    -------
    frame : DataFrame
        Rows complete on ``columns``, those columns only, original index.
    dropped : dict
        For each column in order, the rows it removed (a row missing several
        columns is counted once, under the first of them), and ``"total"``.

    Raises
    ------
    DataContractError
        A column is absent, or no complete row is left.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, None, 3], "x": [None, None, 1.0]})
    >>> model_frame(df, ["y", "x"])[1]
    {'y': 1, 'x': 1, 'total': 2}
    """
    if isinstance(data, Panel):
        data = data.data
    cols = list(dict.fromkeys(columns))
    source = (getattr(data, "attrs", {}) or {}).get("source", "<data>")
    label = f"model '{spec_name}'" if spec_name else "model"
    absent = [c for c in cols if c not in data.columns]
    if absent:
        hint = _close(absent[0], list(data.columns))
        raise DataContractError(
            f"{source}: {label} needs column '{absent[0]}', which the data lacks"
            + (f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ".")
            + " Fix: add or map the column (see lib.data), or drop it from the model.",
            file=source, column=absent[0])
    keep = np.ones(len(data), dtype=bool)
    dropped: dict[str, int] = {}
    for c in cols:
        miss = data[c].isna().to_numpy()
        dropped[c] = int((miss & keep).sum())
        keep &= ~miss
    dropped["total"] = int((~keep).sum())
    if not keep.any():
        worst = max(cols, key=lambda c: dropped[c])
        raise DataContractError(
            f"{source}: {label} has no complete rows: of {len(data)} rows, "
            + ", ".join(f"'{c}' removes {n}" for c, n in dropped.items() if n and c != "total")
            + f". Fix: check column '{worst}' (it is missing most often), or leave it out of the model.",
            file=source, column=worst, n_rows=len(data))
    return data.loc[keep, cols], dropped

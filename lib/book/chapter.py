"""Chapter plumbing: glue numbers into prose and record headline results.

Every number that appears in a chapter's prose is computed and glued
(myst-nb's ``glue``), never typed. Every headline estimate is also recorded so
that ``python -m lib.run`` can write a machine-readable results file for the
chapter (``<chapter>.json``).

Typical use in a chapter::

    book.setup("baseline_did", parameters=dict(sample=sample, seed=seed))
    ...
    book.glue_estimate("t4_col2", res, "CBEC")        # t4_col2_beta, _se, _t, _p, _n
    book.record_result("table4_col2", res, "CBEC", truth=truth.att, paper=0.0157)
    book.save_results()
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib import outputs_dir
from lib.present.provenance import FROM_CHAPTER


@dataclass
class _ChapterState:
    chapter: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_notes: list[str] = field(default_factory=list)


_STATE = _ChapterState()


def setup(chapter: str, parameters: dict[str, Any] | None = None) -> None:
    """Start a chapter: book figure style, pandas display, empty results record.

    ``parameters`` are the values the results record stores: a dict of them, or the notebook's
    ``globals()``, from which the names of the chapter's ``parameters`` cell are taken (so the
    record always holds every parameter, as papermill set it).
    """
    import pandas as pd

    from lib.present import figures, provenance

    if parameters is not None and "__name__" in parameters:   # the notebook's namespace
        from lib.book.run import chapter_parameters

        parameters = {name: parameters[name] for name in chapter_parameters(chapter)}

    figures.use_book_style()
    provenance.declare(None)  # until the chapter's data loader says what the data are
    pd.set_option("display.precision", 4)
    pd.set_option("display.max_columns", 30)
    _STATE.chapter = chapter
    _STATE.parameters = dict(parameters or {})
    _STATE.estimates = {}
    _STATE.data_notes = []


def show(fig, name: str, *, source: Any = FROM_CHAPTER) -> None:
    """Save ``fig`` as ``outputs/figures/<name>.png`` and display it exactly once.

    ``source`` is what the plot was computed on (:func:`lib.present.figures.save_figure`): by
    default the chapter's data; a string for a figure of real facts. Closing the figure after
    displaying it keeps the inline backend from showing it a second time (which would
    duplicate a MyST figure label).
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    from lib.present.figures import save_figure

    save_figure(fig, name, source=source)
    display(fig)
    plt.close(fig)


def declare_source(text: str) -> None:
    """Say what this chapter's tables and figures are computed from, when it loads no panel
    (e.g. a model solved at chosen parameters): their files carry ``text``."""
    from lib.present import provenance

    provenance.declare(provenance.DataSource(text=text, note=text[0].upper() + text[1:]))


def _plain(value: Any) -> Any:
    """numpy / pandas scalars -> Python scalars (glue and JSON want plain values)."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) else v
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def glue(key: str, value: Any, display: bool = False) -> None:
    """Glue ``value`` under ``key`` for use as ``{glue:text}`key:.4f``` in prose."""
    from myst_nb import glue as _glue

    _glue(key, _plain(value) if np.isscalar(value) else value, display=display)


def and_list(items) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"`` (empty for no items): lists in glued prose."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class Cited(dict):
    """What a section cites: its glue values (the mapping) and, in ``records``, the headline
    estimates it records (name -> keyword arguments of :func:`record`)."""

    def __init__(self, values: dict[str, Any], records: dict[str, dict[str, Any]] | None = None):
        super().__init__(values)
        self.records = dict(records or {})


def glue_all(values: dict[str, Any]) -> None:
    """Glue every named value a section cites, in one call (keys as in the prose); for a
    :class:`Cited`, record its estimates too."""
    for key, value in values.items():
        glue(key, value)
    for name, entry in getattr(values, "records", {}).items():
        record(name, **entry)


def median_seconds(fn, repeats: int = 3) -> float:
    """Wall-clock seconds of ``fn()``, the median of ``repeats`` calls."""
    import time

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def glue_machine(key: str, value: Any) -> None:
    """Glue a machine-dependent value (a timing): ``key`` must start with ``machine_``."""
    from lib.book.build import MACHINE_KEY_PREFIX   # here: the build command is no chapter import

    if not key.startswith(MACHINE_KEY_PREFIX):
        raise ValueError(f"glue_machine: key {key!r} must start with {MACHINE_KEY_PREFIX!r}, so the "
                         "determinism checks know to ignore it")
    glue(key, value)


def glue_if_truth(key: str, data: "ChapterData", text: str, otherwise: str = "") -> None:
    """Glue ``text`` when ``data`` has a known truth, else ``otherwise``.

    For sentences about the truth, which mean nothing on a reader's own data
    (where the truth is unknown): ``text`` may use ``{}``-free f-strings built
    by the caller; the choice is made here so every chapter words it alike.
    """
    glue(key, text if data.synthetic else otherwise)


def estimate_values(prefix: str, result, term: str) -> dict[str, Any]:
    """``<prefix>_beta, _se, _t, _p, _n`` of one term of a result, for glued prose."""
    c = result.coef(term)
    return {f"{prefix}_{suffix}": c[name] for suffix, name in
            (("beta", "estimate"), ("se", "std_error"), ("t", "t"), ("p", "p"), ("n", "nobs"))}


def glue_estimate(prefix: str, result, term: str) -> None:
    """Glue ``<prefix>_beta, _se, _t, _p, _n`` for one term of a result."""
    glue_all(estimate_values(prefix, result, term))


def record(name: str, *, estimate: float, std_error: float | None = None, t: float | None = None,
           p: float | None = None, nobs: int | None = None, truth: float | None = None,
           paper: float | None = None, **extra: Any) -> None:
    """Record one headline estimate of the current chapter under ``name``."""
    entry = {"name": name, "estimate": estimate, "std_error": std_error, "t": t, "p": p,
             "nobs": nobs, "truth": truth, "paper": paper}
    entry.update(extra)
    _STATE.estimates[name] = {k: _plain(v) for k, v in entry.items()}


def result_record(result, term: str, *, truth: float | None = None, paper: float | None = None,
                  **extra: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`record` for one term of a
    :class:`~lib.methods.results.RegressionResult`."""
    c = result.coef(term)
    return dict(estimate=c["estimate"], std_error=c["std_error"], t=c["t"], p=c["p"],
                nobs=c["nobs"], truth=truth, paper=paper, term=term,
                n_dropped=result.n_dropped, vcov=result.vcov, **extra)


def record_result(name: str, result, term: str, *, truth: float | None = None,
                  paper: float | None = None, **extra: Any) -> None:
    """Record one term of a :class:`~lib.methods.results.RegressionResult`."""
    record(name, **result_record(result, term, truth=truth, paper=paper, **extra))


def recorded() -> dict[str, dict[str, Any]]:
    """The estimates recorded so far in this chapter."""
    return dict(_STATE.estimates)


def save_results(path: Path | None = None) -> None:
    """Write ``{chapter, parameters, estimates, data_notes, data}`` as JSON (sorted keys, stable);
    ``data_notes`` are what the loader did to the panel (dropped rows, adoption years after the
    window set to never treated, a guessed separator), ``data`` what the estimates were computed on
    (:mod:`lib.present.provenance`).

    Returns nothing, so the chapter's last cell shows no output (a path there
    would put the build machine's folder into the executed notebook).
    """
    if not _STATE.chapter:
        raise RuntimeError("call lib.book.setup(chapter, parameters) at the top of the chapter")
    path = path or outputs_dir() / "results" / f"{_STATE.chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    from lib.present import provenance

    described = provenance.current()
    payload = {
        "chapter": _STATE.chapter,
        "parameters": {k: _plain(v) for k, v in _STATE.parameters.items()},
        "estimates": list(_STATE.estimates.values()),
        "data_notes": list(_STATE.data_notes),
        # what the estimates were computed on; the page marks its numbers with the qualifier
        "data": None if described is None else {"source": described.text, "synthetic": described.synthetic,
                                                "qualifier": described.qualifier},
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ChapterData:
    """What a chapter estimates on, and what it can compare against.

    Attributes
    ----------
    panel : lib.data.Panel
        The validated panel (all rows).
    frame : DataFrame
        ``panel.data`` restricted to the named ``sample``.
    sample : dict
        :func:`lib.data.samples.apply_sample`'s record (name, description, counts).
    truth : lib.data.synthetic.Truth or None
        The known truth when the data are the book's semi-synthetic panel
        (shipped or regenerated with another seed or timing rule); ``None``
        on a reader's own data, where no truth exists.
    source : str
        What the data are, in words, for the page's banner.
    """

    panel: Any
    frame: Any
    sample: dict
    truth: Any
    source: str

    @property
    def synthetic(self) -> bool:
        return self.truth is not None

    @property
    def facts_source(self) -> Any:
        """The ``source=`` of a table or figure of the panel's units and adoption dates only: on
        the book's panel those are real facts (:data:`lib.data.facts.SOURCE`), on a reader's
        panel the reader's data."""
        from lib.data.facts import SOURCE

        return SOURCE if self.synthetic else FROM_CHAPTER

    def true_att(self, frame=None) -> float:
        """True ATT on ``frame`` (default: the sample), or nan on real data."""
        if self.truth is None:
            return float("nan")
        return self.truth.att_on(self.frame if frame is None else frame)

    @property
    def paper_comparable(self) -> bool:
        """Whether the paper's printed numbers belong beside these estimates: on the book's
        semi-synthetic panel (calibrated to them) and on a file declared ``paper_panel: true``;
        never on another panel."""
        return self.truth is not None or bool(getattr(self.panel.spec, "paper_panel", False))

    def published_estimate(self, paper: str, table, column, term: str) -> dict | None:
        """:func:`lib.data.published.published_estimate` where the paper is comparable, else None."""
        if not self.paper_comparable:
            return None
        from lib.data.published import published_estimate

        return published_estimate(paper, table, column, term)

    def true_att_of(self, result, frame=None) -> float:
        """True ATT over the treated rows a fitted DID actually used.

        Rebuilds the estimation sample from ``result.spec`` (outcome,
        treatment, controls, unit, time: the complete cases of ``frame``),
        so the truth matches the rows behind the estimate.
        """
        from lib.data import model_frame

        spec = result.spec
        frame = self.frame if frame is None else frame
        cols = [spec["yname"], spec["dname"], *spec.get("controls", ()), spec["idname"], spec["tname"]]
        used, _ = model_frame(frame, cols)
        return self.true_att(used)

    def twfe_target(self, result, frame=None) -> float:
        """What a fitted TWFE regression targets on these data: the same
        regression with the outcome replaced by the true effect.

        TWFE is linear in the outcome, so its coefficient splits exactly into
        the coefficient on the true effects tau_it (zero for untreated rows)
        plus the coefficient on the untreated outcome. The first part is the
        weighted average of true effects that TWFE estimates (weights as in
        Goodman-Bacon 2021); its gap to the ATT is the bias from effect
        heterogeneity, the rest of the estimate's gap is noise.
        """
        from lib.methods.did import twfe

        if self.truth is None:
            return float("nan")
        spec = result.spec
        frame = (self.frame if frame is None else frame).copy()
        eff = self.truth.effects.set_index(["city_id", "year"])["tau"]
        keys = pd.MultiIndex.from_frame(frame[[spec["idname"], spec["tname"]]].astype("int64"))
        frame["_true_effect"] = eff.reindex(keys).fillna(0.0).to_numpy()
        # rows missing the outcome must stay out, as in the original fit
        frame.loc[frame[spec["yname"]].isna(), "_true_effect"] = np.nan
        kwargs = {k: spec[k] for k in ("dname", "idname", "tname", "controls", "vcov") if k in spec}
        return float(twfe(frame, yname="_true_effect", **kwargs).params[spec["dname"]])


def chapter_data(data_path: str = "", columns: str = "", sample: str = "all", *,
                 seed: int | None = None, timing_rule: str = "approval_year") -> ChapterData:
    """Load the data a chapter's parameters point at.

    ``data_path`` empty means the book's semi-synthetic panel: the shipped file
    when ``seed`` and ``timing_rule`` are the defaults, otherwise a fresh
    draw of :func:`lib.data.synthetic.simulate_city_panel` with them (same
    generator, so the truth is known). A ``data_path`` is read and validated
    by :func:`lib.data.load_panel` with the column mapping ``columns``.
    """
    from lib import data as data_mod
    from lib.data import samples, synthetic

    from lib.present import provenance

    if data_path:
        panel = data_mod.load_panel(data_path, columns=columns or None)
        truth = None
        source = f"the reader's panel `{Path(data_path).name}`"
        provenance.declare(provenance.readers(Path(data_path).name))
    elif (seed in (None, synthetic.DEFAULT_SEED)) and timing_rule == "approval_year":
        panel = data_mod.load_panel()
        truth = synthetic.default_truth()
        source = "the book's semi-synthetic default panel"
        provenance.declare(provenance.semi_synthetic(
            f"the book's semi-synthetic city panel (seed {synthetic.DEFAULT_SEED})"))
    else:
        from lib.data.facts import sample_frame

        seed = synthetic.DEFAULT_SEED if seed is None else int(seed)
        raw, truth = synthetic.simulate_city_panel(sample_frame(rule=timing_rule), seed=seed)
        panel = data_mod.validate_panel(raw, source=f"<semi-synthetic panel, seed {seed}, {timing_rule}>")
        source = f"a semi-synthetic panel drawn with seed {seed} and timing rule '{timing_rule}'"
        provenance.declare(provenance.semi_synthetic(
            f"a semi-synthetic city panel (seed {seed}, timing rule {timing_rule})"))
    frame, info = samples.apply_sample(panel.data, sample, spec=panel.spec)
    _STATE.data_notes = list(panel.report.get("notes", []))   # what the loader did, for the record
    return ChapterData(panel=panel, frame=frame, sample=info, truth=truth, source=source)


def balanced_frame(data: ChapterData, *, needs: str) -> tuple[pd.DataFrame, str]:
    """The chapter's frame for estimators that need every unit in every period, and what was done.

    On a balanced panel: ``data.frame`` and an empty sentence. On an unbalanced
    one: the sub-panel of the units observed (with an outcome) in every period
    (the named sample ``balanced``) and a sentence for the page that says how
    many units that leaves and which estimators (``needs``) run on it.
    """
    from lib.data import samples

    spec = data.panel.spec
    frame = data.frame
    n_periods = frame[spec.time].nunique()
    per_unit = frame.loc[frame[spec.outcome].notna()].groupby(spec.unit)[spec.time].nunique()
    short = int((per_unit < n_periods).sum())
    if short == 0:
        return frame, ""
    kept, info = samples.apply_sample(frame, "balanced", spec=spec)
    unit_word = "unit" if short == 1 else "units"
    sentence = (f"This panel is unbalanced: {short:,} of {len(per_unit):,} {unit_word} lack some of its "
                f"{n_periods} periods. {needs[0].upper() + needs[1:]} need every unit in every period, "
                f"so this chapter runs them on the balanced sub-panel of the {info['units_after']:,} units "
                f"observed in every period ({info['rows_after']:,} of {info['rows_before']:,} rows); the "
                "estimators that allow gaps use every row.")
    return kept, sentence


class ChapterUnsupported(RuntimeError):
    """The panel cannot support the chapter at all; the message says why, for the reader."""


def with_comparison_group(data: ChapterData, *, needs: str) -> tuple[ChapterData, str]:
    """The chapter's data for estimators that compare treated units with never-treated ones.

    With never-treated units: ``data`` itself and an empty sentence. Without them, the
    last-treated cohort serves as the comparison group, as Sun and Abraham (2021) suggest:
    its adoption year is set to missing and the periods from its adoption on are dropped
    (they have no untreated unit left). A sentence for the page says so. With a single cohort
    and no never-treated unit there is no comparison at all: :class:`ChapterUnsupported`.
    """
    from dataclasses import replace

    spec = data.panel.spec
    frame = data.frame
    cohort = frame.groupby(spec.unit)[spec.adoption].first()
    if cohort.isna().any():
        return data, ""
    cohorts = sorted(cohort.unique())
    if len(cohorts) < 2:
        raise ChapterUnsupported(
            f"Every unit of this panel is first treated in {cohorts[0]}, so no unit is untreated while "
            f"the others are treated: {needs} has no comparison group and the chapter cannot run. "
            "A panel with never-treated units, or with units treated at different times, can.")
    last = cohorts[-1]
    kept = frame.loc[frame[spec.time] < last].copy()
    kept[spec.adoption] = kept[spec.adoption].where(kept[spec.adoption] != last)
    if "treated" in kept:  # the ever-treated flag follows: the comparison cohort is untreated here
        kept["treated"] = kept[spec.adoption].notna().astype(kept["treated"].dtype)
    n_last = int((cohort == last).sum())
    sentence = (f"This panel has no never-treated units. {needs[0].upper() + needs[1:]} needs a "
                f"comparison group, so the {n_last} {'unit' if n_last == 1 else 'units'} first treated "
                f"last, in {last}, serve as the never-treated group and the periods from {last} on are "
                f"dropped ({len(kept):,} of {len(frame):,} rows kept), as Sun and Abraham (2021) suggest.")
    return replace(data, frame=kept.reset_index(drop=True)), sentence


def corpus_banner(corpus) -> Any:
    """A short Markdown banner saying what the page's counts are counts of; the page's tables
    and figures say it in their files too (:mod:`lib.present.provenance`)."""
    from IPython.display import Markdown

    from lib.present import provenance

    if corpus.synthetic:
        provenance.declare(provenance.DataSource(
            text=(f"{corpus.source}: generated word sequences with known theme shares; not policy "
                  "documents"),
            note="Synthetic corpus (generated words, known theme shares): not policy documents",
            synthetic=True, qualifier="synthetic corpus"))
    else:
        provenance.declare(provenance.DataSource(text=corpus.source, note=f"Data: {corpus.source}"))
    if corpus.synthetic:
        text_ = (f"**What these numbers are.** Counts on {corpus.source}: generated word sequences "
                 f"with known theme shares, **not policy documents**. They test the counting method; "
                 f"they say nothing about Chinese policy texts.")
    else:
        text_ = (f"**What these numbers are.** Counts on {corpus.source}. No true shares are known for "
                 f"these documents, so the *truth* column is empty.")
    return Markdown(text_)


def notice(*texts: str) -> Any:
    """What this panel cannot support, or what the chapter changed for it, as a note on the page
    (nothing when every text is empty)."""
    import html

    from IPython.display import HTML

    texts = [t for t in texts if t]
    if not texts:
        return None
    body = "".join(f"<p>{html.escape(t)}</p>" for t in texts)
    return HTML(f'<div class="admonition note panel-notice"><p class="admonition-title">'
                f"On this panel</p>{body}</div>")


def weights_note(data: ChapterData, weighted: bool) -> str:
    """What the page does with the column file's regression weights (empty without weights)."""
    w = getattr(data.panel.spec, "weights", None)
    if not w:
        return ""
    if weighted:
        return (f"The two-way fixed-effects regressions of this page are weighted by `{w}` (the column "
                "file's `weights:`; weighted least squares); its other estimators and its illustrations "
                "are unweighted.")
    return (f"The column file names regression weights (`{w}`); this page's estimators do not take "
            "them, so its numbers are unweighted. The weights enter the baseline DID and the event "
            "study.")


def data_banner(data: ChapterData, *notes: str, weighted: bool = False) -> Any:
    """A short Markdown banner saying what the page's estimates are estimates on, followed by
    the :func:`notice` of what the chapter changed for this panel (``notes``, if any, and what
    it does with the column file's weights: ``weighted`` pages use them)."""
    from IPython.display import Markdown, display

    if data.synthetic:
        text = (f"**What these numbers are.** Estimates on {data.source} (sample: "
                f"*{data.sample['name']}*, {data.sample['rows_after']:,} city-years). The data are "
                f"**semi-synthetic**: real cities and pilot dates, simulated outcomes and covariates "
                f"with a known true effect. They are not findings about China.")
    else:
        text = (f"**What these numbers are.** Estimates on {data.source} (sample: "
                f"*{data.sample['name']}*, {data.sample['rows_after']:,} rows). No true effect is "
                f"known for these data, so the *truth* column is empty.")
    loader = [] if data.synthetic else [f"The loader: {n}." for n in data.panel.report.get("notes", [])]
    notes = (*notes, weights_note(data, weighted))
    if any(notes) or loader:
        display(Markdown(text))
        return notice(*loader, *notes)
    return Markdown(text)

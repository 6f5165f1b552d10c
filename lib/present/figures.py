"""One figure style and the plot helpers every chapter uses.

Call :func:`use_book_style` once in a chapter's hidden setup cell
(``lib.book.setup`` does it); importing ``lib`` never changes matplotlib's
state. Every plot function takes ``ax=None`` and returns the Figure; titles go
in the MyST caption (``mystnb: figure: caption``), never inside the plot.
Colours come from :data:`PALETTE`, so "book", "truth" and "paper" look the
same on every figure (:data:`MARKERS` fixes their marker shapes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.present.provenance import FROM_CHAPTER

__all__ = [
    "STYLE_PATH",
    "PALETTE",
    "MARKERS",
    "use_book_style",
    "new_axes",
    "save_figure",
    "coefficient_plot",
    "band_plot",
    "dag_plot",
]

#: The style sheet shipped with ``lib``.
STYLE_PATH = Path(__file__).with_name("book.mplstyle")

#: Okabe-Ito colours by role (colour-blind safe).
PALETTE: dict[str, str] = {
    "book": "#0072B2",      # blue: this book's estimates
    "truth": "#000000",     # black: the effect built into the panel
    "paper": "#D55E00",     # vermillion: the printed number
    "treated": "#E69F00",   # orange
    "control": "#56B4E9",   # sky blue
    "band": "#0072B2",      # the book's CI band (drawn with alpha)
    "band2": "#56B4E9",     # a second, wider band (drawn lighter)
    "placebo": "#CC79A7",   # reddish purple
    "highlight": "#009E73",  # bluish green
    "reference": "#7F7F7F",  # grey reference lines
    "yellow": "#F0E442",
}

#: Marker shapes by role.
MARKERS: dict[str, str] = {"book": "o", "truth": "D", "paper": "s"}

_BAND_ALPHA = 0.25
_BAND2_ALPHA = 0.12


def _marker_kw(role: str) -> dict[str, Any]:
    """Hollow, slightly larger markers for truth and paper, so the book's point shows through."""
    return {"marker": MARKERS[role], "facecolors": "none", "edgecolors": PALETTE[role],
            "s": 58 if role == "truth" else 44, "linewidths": 1.4, "zorder": 4}


_LEGEND_ORDER = ("book", "truth", "paper")


def _legend(ax: Any, title: str | None = None) -> None:
    """Legend with the book's entries first, then truth, then paper; ``title`` (e.g. a test's
    result) heads the legend, so that it can never cover it."""
    handles, labels = ax.get_legend_handles_labels()

    def rank(lab: str) -> int:
        for i, key in enumerate(_LEGEND_ORDER):
            if lab.startswith(key):
                return i
        return len(_LEGEND_ORDER)
    order = sorted(range(len(labels)), key=lambda i: rank(labels[i]))
    legend = ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="best", title=title,
                       title_fontsize=9)
    if title:
        legend._legend_box.align = "left"


def use_book_style() -> None:
    """Apply ``lib/present/book.mplstyle`` (palette, size, fonts, grid, spines)."""
    import matplotlib.pyplot as plt

    plt.style.use(STYLE_PATH)


def new_axes(ax: Any = None, **kw: Any) -> tuple[Any, Any]:
    """Return ``(fig, ax)``: the figure of ``ax``, or a new ``plt.subplots(**kw)``."""
    if ax is not None:
        try:
            fig = ax.get_figure(root=True)
        except TypeError:  # matplotlib < 3.10
            fig = ax.figure
        return fig, ax
    import matplotlib.pyplot as plt

    return plt.subplots(**kw)


def save_figure(fig: Any, name: str, directory: str | Path | None = None, *,
                source: Any = FROM_CHAPTER) -> Path:
    """Write ``<directory>/<name>.png``; return its path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File stem (letters, digits, ``_ - .``), e.g. ``"fig1_event_study"``.
    directory : path, optional
        Default ``lib.outputs_dir() / "figures"`` (created if needed).
    source : optional
        What the plotted numbers were computed on (:mod:`lib.present.provenance`): by default
        what the chapter's data loader declared; a string for real facts; ``None`` for nothing.
        It is written under the plot (so the PNG says it wherever it travels; the page shows
        the same figure) and in the PNG's ``Description``.
    """
    from lib import output_folder
    from lib.present import provenance

    path = output_folder(name, "figures", directory,
                         example="save_figure(fig, 'fig1_event_study')") / f"{name}.png"
    described = provenance.resolve(source)
    metadata = {"Software": None}  # no matplotlib version in the file: same bytes on any install
    if described is not None:
        _source_note(fig, described.note)
        metadata["Description"] = described.text
    fig.savefig(path, format="png", metadata=metadata)
    return path


def _source_note(fig: Any, note: str) -> None:
    """``note`` once, in small grey type at the figure's bottom right, below the axes."""
    if any(getattr(t, "_book_source_note", False) for t in fig.texts):
        return
    text = fig.text(0.995, 0.0, note, ha="right", va="top", fontsize=7.5, color=PALETTE["reference"],
                    style="italic")
    text._book_source_note = True


def _values(spec: Any, frame: pd.DataFrame, what: str) -> np.ndarray | float | None:
    """Column name -> column; array-like -> array; scalar -> float; None -> None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in frame.columns:
            raise KeyError(f"{what}={spec!r} is not a column; columns are {list(frame.columns)}")
        return pd.to_numeric(frame[spec], errors="coerce").to_numpy(dtype=float)
    if np.isscalar(spec):
        return float(spec)
    arr = np.asarray(spec, dtype=float)
    if arr.shape != (len(frame),):
        raise ValueError(f"{what} has {arr.size} values for {len(frame)} rows; "
                         f"pass one per row, a column name or a scalar")
    return arr


def coefficient_plot(frame: pd.DataFrame, *, estimate: str = "estimate", lower: str = "ci_lower",
                     upper: str = "ci_upper", label: str = "label", truth: Any = None,
                     paper: Any = None, ax: Any = None, xlabel: str = "Estimate (95% CI)",
                     ylabel: str | None = None, reference_line: float | None = 0.0,
                     estimate_label: str = "book estimate (95% CI)") -> Any:
    """Forest plot: one row per estimate with its 95% CI, optional truth and paper markers.

    Parameters
    ----------
    frame : DataFrame
        One row per estimate (e.g. ``result.tidy()`` or a heterogeneity frame),
        first row plotted at the top.
    estimate, lower, upper : str
        Columns of the point estimate and CI bounds.
    label : str
        Column of row labels; the index is used when there is no such column.
    truth, paper : str, array-like or float, optional
        A column name or one value per row (markers; NaN rows skipped), or a
        scalar (a vertical line).
    ax : matplotlib Axes, optional
    xlabel, ylabel : str
        Axis labels (``ylabel`` defaults to the label column's or index's
        name; none for a column called ``"label"``; the row labels are the
        tick labels).
    reference_line : float or None
        Vertical reference line (default 0).
    estimate_label : str
        Legend entry of the estimates.

    Returns
    -------
    matplotlib.figure.Figure
    """
    for col in (estimate, lower, upper):
        if col not in frame.columns:
            raise KeyError(f"coefficient_plot: column {col!r} not in frame; columns are "
                           f"{list(frame.columns)} (pass estimate=, lower=, upper=)")
    fig, ax = new_axes(ax)
    n = len(frame)
    y = np.arange(n)[::-1]
    labels = (frame[label] if label in frame.columns else pd.Series(frame.index)).astype(str)
    est = pd.to_numeric(frame[estimate], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(frame[lower], errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(frame[upper], errors="coerce").to_numpy(dtype=float)

    if reference_line is not None:
        ax.axvline(reference_line, color=PALETTE["reference"], lw=0.9, ls="--", zorder=1)
    ax.errorbar(est, y, xerr=np.vstack([est - lo, hi - est]), fmt=MARKERS["book"],
                color=PALETTE["book"], ecolor=PALETTE["book"], elinewidth=1.6, capsize=0,
                label=estimate_label, zorder=3)
    for role, spec in (("truth", truth), ("paper", paper)):
        vals = _values(spec, frame, role)
        if vals is None:
            continue
        if isinstance(vals, float):
            ax.axvline(vals, color=PALETTE[role], lw=1.2, ls=":" if role == "truth" else "-.",
                       label=role, zorder=2)
        else:
            ok = np.isfinite(vals)
            ax.scatter(vals[ok], y[ok], label=role, **_marker_kw(role))
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    if ylabel is None:  # the rows' name, unless it is the generic "label"
        ylabel = label if label in frame.columns else str(frame.index.name or "")
        ylabel = "" if ylabel == "label" else ylabel
    ax.set_ylabel(ylabel)
    _legend(ax)
    return fig


def band_plot(x: Sequence[float], estimate: Sequence[float], lower: Sequence[float],
              upper: Sequence[float], *, lower2: Sequence[float] | None = None,
              upper2: Sequence[float] | None = None, truth: Any = None, paper: Any = None,
              ax: Any = None, xlabel: str, ylabel: str, reference_line: float | None = 0.0,
              vertical_line: float | None = None, estimate_label: str = "book estimate",
              band_label: str = "95% pointwise CI", band2_label: str = "95% uniform band") -> Any:
    """Point estimates over ``x`` with a pointwise CI band and an optional wider band.

    Parameters
    ----------
    x, estimate, lower, upper : array-like
        Positions (e.g. event time), estimates and the pointwise CI.
    lower2, upper2 : array-like, optional
        A second, wider band (e.g. a sup-t uniform band), drawn lighter.
    truth, paper : array-like or float, optional
        One value per ``x`` (markers; NaN skipped) or a scalar (horizontal line).
    ax : matplotlib Axes, optional
    xlabel, ylabel : str
        Axis labels (required).
    reference_line : float or None
        Horizontal reference line (default 0).
    vertical_line : float, optional
        A vertical marker, e.g. ``-0.5`` between the last pre and first post period.
    estimate_label, band_label, band2_label : str
        Legend entries.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(x, dtype=float)
    est, lo, hi = (np.asarray(a, dtype=float) for a in (estimate, lower, upper))
    if not (x.shape == est.shape == lo.shape == hi.shape):
        raise ValueError(f"band_plot: x, estimate, lower, upper must have equal length; got "
                         f"{x.size}, {est.size}, {lo.size}, {hi.size}")
    if (lower2 is None) != (upper2 is None):
        raise ValueError("band_plot: pass both lower2 and upper2 for the second band, or neither")
    fig, ax = new_axes(ax)
    order = np.argsort(x, kind="stable")
    x, est, lo, hi = x[order], est[order], lo[order], hi[order]
    if reference_line is not None:
        ax.axhline(reference_line, color=PALETTE["reference"], lw=0.9, ls="--", zorder=1)
    if vertical_line is not None:
        ax.axvline(vertical_line, color=PALETTE["reference"], lw=0.9, ls=":", zorder=1)
    if lower2 is not None:
        lo2 = np.asarray(lower2, dtype=float)[order]
        hi2 = np.asarray(upper2, dtype=float)[order]
        ax.fill_between(x, lo2, hi2, color=PALETTE["band2"], alpha=_BAND2_ALPHA, lw=0,
                        label=band2_label, zorder=1.5)
    ax.fill_between(x, lo, hi, color=PALETTE["band"], alpha=_BAND_ALPHA, lw=0, label=band_label,
                    zorder=2)
    ax.plot(x, est, marker=MARKERS["book"], color=PALETTE["book"], label=estimate_label, zorder=3)
    for role, spec in (("truth", truth), ("paper", paper)):
        if spec is None:
            continue
        if np.isscalar(spec):
            ax.axhline(float(spec), color=PALETTE[role], lw=1.2,
                       ls=":" if role == "truth" else "-.", label=role, zorder=2.5)
            continue
        vals = np.asarray(spec, dtype=float)
        if vals.shape != x.shape:
            raise ValueError(f"band_plot: {role} has {vals.size} values for {x.size} points; "
                             f"pass one per x or a scalar")
        vals = vals[order]
        ok = np.isfinite(vals)
        ax.scatter(x[ok], vals[ok], label=role, **_marker_kw(role))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _legend(ax)
    return fig


def dag_plot(nodes: dict[str, tuple[float, float, str]], edges: Sequence[tuple[str, str]], *,
             dashed: Sequence[tuple[str, str]] = ()) -> Any:
    """A causal diagram: ``nodes`` name -> (x, y, label), arrows ``edges``, ``dashed`` arrows for
    paths the assumptions rule out. Drawn with matplotlib alone (no graphviz needed)."""
    import matplotlib.pyplot as plt

    xs = [x for x, _, _ in nodes.values()]
    ys = [y for _, y, _ in nodes.values()]
    fig = plt.figure(figsize=(7.5, 3.6))
    fig.set_layout_engine("none")   # a fixed frame: the boxes do not move
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    boxes = {name: ax.text(x, y, label, ha="center", va="center", fontsize=9.5, zorder=3,
                           bbox=dict(boxstyle="round,pad=0.4", fc="white", ec=PALETTE["book"], lw=1.2))
             for name, (x, y, label) in nodes.items()}
    fig.canvas.draw()   # the boxes have their size only once drawn
    inverse = ax.transData.inverted()
    half = {}
    for name, box in boxes.items():
        (x0, y0), (x1, y1) = inverse.transform(box.get_bbox_patch().get_window_extent().get_points())
        half[name] = ((x1 - x0) / 2 + 0.04, (y1 - y0) / 2 + 0.04)

    def edge_point(name: str, towards: tuple[float, float]) -> tuple[float, float]:
        # where the segment from the box's centre to ``towards`` leaves the box
        (cx, cy), (hx, hy) = nodes[name][:2], half[name]
        dx, dy = towards[0] - cx, towards[1] - cy
        t = min(hx / abs(dx) if dx else np.inf, hy / abs(dy) if dy else np.inf)
        return cx + t * dx, cy + t * dy

    for style, pairs in (("-", edges), ("--", dashed)):
        for a, b in pairs:
            colour = PALETTE["reference"] if style == "--" else "#333333"
            ax.annotate("", xy=edge_point(b, nodes[a][:2]), xytext=edge_point(a, nodes[b][:2]), zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.3, linestyle=style,
                                        shrinkA=0, shrinkB=0, mutation_scale=14))
    return fig

"""lib.present.figures: one style, labelled axes, truth/paper markers, PNG output."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lib.present import figures# noqa: E402


@pytest.fixture(autouse=True)
def _close():
    with plt.rc_context():
        yield
    plt.close("all")


def legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


@pytest.fixture
def het():
    return pd.DataFrame({"label": ["East", "Mid", "West"], "estimate": [0.017, 0.010, 0.007],
                         "ci_lower": [0.010, 0.001, -0.002], "ci_upper": [0.024, 0.019, 0.016],
                         "truth": [0.018, 0.009, np.nan], "paper": [0.0172, 0.0100, 0.0067]})


def test_importing_lib_does_not_touch_style():
    import importlib

    import lib

    before = dict(plt.rcParams)
    importlib.reload(lib)
    assert dict(plt.rcParams) == before


def test_style_loads_and_sets_palette():
    figures.use_book_style()
    rc = plt.rcParams
    cycle = [to_hex(c) for c in rc["axes.prop_cycle"].by_key()["color"]]
    assert cycle[:4] == ["#0072b2", "#e69f00", "#009e73", "#d55e00"]
    assert list(rc["figure.figsize"]) == [7.5, 4.2]
    assert rc["figure.dpi"] == 120 and rc["savefig.dpi"] == 150 and rc["savefig.bbox"] == "tight"
    assert rc["axes.spines.top"] is False and rc["axes.spines.right"] is False
    assert rc["axes.grid"] is True
    assert figures.STYLE_PATH.exists()
    okabe_ito = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00",
                 "#cc79a7", "#7f7f7f"}
    assert {c.lower() for c in figures.PALETTE.values()} <= okabe_ito
    assert figures.PALETTE["truth"] != figures.PALETTE["paper"] != figures.PALETTE["book"]


def test_new_axes():
    fig, ax = figures.new_axes()
    assert isinstance(fig, Figure)
    fig2, ax2 = figures.new_axes(ax)
    assert fig2 is fig and ax2 is ax


def test_coefficient_plot_with_truth_and_paper(het):
    fig = figures.coefficient_plot(het, truth="truth", paper="paper", xlabel="Effect on Inno",
                                   ylabel="Region")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Effect on Inno"
    assert ax.get_ylabel() == "Region"
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert ticks["East"] > ticks["Mid"] > ticks["West"]  # first row at the top
    texts = legend_texts(fig)
    assert "truth" in texts and "paper" in texts and "book estimate (95% CI)" in texts


def test_coefficient_plot_scalar_truth_on_given_ax_and_tidy_frame():
    tidy = pd.DataFrame({"estimate": [1.0, 2.0], "ci_lower": [0.5, 1.0], "ci_upper": [1.5, 3.0]},
                        index=pd.Index(["a", "b"], name="term"))
    fig, ax = plt.subplots()
    out = figures.coefficient_plot(tidy, truth=1.2, ax=ax)
    assert out is fig
    assert ax.get_ylabel() == "term" and ax.get_xlabel()
    assert "truth" in legend_texts(fig) and "paper" not in legend_texts(fig)


def test_coefficient_plot_errors(het):
    with pytest.raises(KeyError, match="not in frame"):
        figures.coefficient_plot(het, estimate="beta")
    with pytest.raises(ValueError, match="one per row"):
        figures.coefficient_plot(het, truth=[1, 2])


def test_band_plot():
    x = np.arange(-4, 5)
    est = np.where(x < 0, 0.0, 0.01)
    fig = figures.band_plot(x, est, est - 0.004, est + 0.004, lower2=est - 0.007, upper2=est + 0.007,
                            truth=np.where(x < 0, 0.0, 0.012), xlabel="Years since pilot",
                            ylabel="Effect on Inno", vertical_line=-0.5)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Years since pilot" and ax.get_ylabel() == "Effect on Inno"
    texts = legend_texts(fig)
    assert {"truth", "book estimate", "95% pointwise CI", "95% uniform band"} <= set(texts)
    fig = figures.band_plot(x, est, est - 1, est + 1, xlabel="x", ylabel="y")
    assert "truth" not in legend_texts(fig)
    with pytest.raises(ValueError, match="both lower2 and upper2"):
        figures.band_plot(x, est, est, est, lower2=est, xlabel="x", ylabel="y")


def test_save_figure_png(tmp_path, monkeypatch, het):
    monkeypatch.setenv("CBEC_BOOK_OUTPUTS", str(tmp_path / "out"))
    figures.use_book_style()
    fig = figures.coefficient_plot(het)
    path = figures.save_figure(fig, "fig_het")
    assert path == tmp_path / "out" / "figures" / "fig_het.png"
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="file stem"):
        figures.save_figure(fig, "a/b")


def test_a_saved_figure_says_what_it_was_computed_on(tmp_path, het):
    from PIL import Image

    from lib.present import provenance

    figures.use_book_style()
    provenance.declare(provenance.semi_synthetic("the book's semi-synthetic city panel (seed 1)"))
    try:
        fig = figures.coefficient_plot(het)
        path = figures.save_figure(fig, "declared", tmp_path)
        figures.save_figure(fig, "declared", tmp_path)  # saving twice writes the note once
        notes = [t.get_text() for t in fig.texts]
        assert notes == ["Semi-synthetic data (simulated outcomes, known truth): not findings about China"]
        meta = Image.open(path).text
        assert meta["Description"].startswith("the book's semi-synthetic city panel (seed 1): real units")
        assert "Software" not in meta  # no library version in the file
        fig2 = figures.coefficient_plot(het)
        figures.save_figure(fig2, "real", tmp_path, source="State Council approvals (real dates)")
        assert [t.get_text() for t in fig2.texts] == ["State Council approvals (real dates)"]
        fig3 = figures.coefficient_plot(het)
        assert "Description" not in Image.open(figures.save_figure(fig3, "bare", tmp_path, source=None)).text
        assert len(fig3.texts) == 0
    finally:
        provenance.declare(None)
        plt.close("all")

"""Panels of the shapes readers bring, and one chapter run on each: the shape matrix.

Each shape is a file and a column file written to a temporary folder: the real castle-doctrine
state panel (``tests/fixtures/castle``), a variant with one treated state, and cuts of the book's
own panel (no never-treated units, one cohort, no controls, 10 % of the rows missing). A run is
``python -m lib.run CHAPTER -p data_path FILE -p columns FILE.yml`` with small draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from lib.book.reader_book import CITY_CHAPTERS  # the chapters that read the city panel

FIXTURES = Path(__file__).parent / "fixtures"
CASTLE = FIXTURES / "castle" / "castle.csv"
CASTLE_COLUMNS = FIXTURES / "castle" / "castle.yml"
#: Parameters that keep a run short: draw counts only (what they show does not depend on them).
SMALL = {"did_event_study": {"band_draws": "500"}, "did_placebo": {"n_placebo": "20"},
         "did_staggered": {"n_bootstrap": "19", "reps": "3"}, "psm_did": {"bootstrap_reps": "10"},
         "mechanisms": {"bootstrap_reps": "10"}, "groups_mediators": {"bootstrap_reps": "19"},
         "spec_curve": {"samples": "all,balanced"}}
#: The chapters each shape cannot support (the page says why); every other chapter must build.
UNSUPPORTED = {
    "castle": {"heterogeneity", "mechanisms"},
    "one_treated": {"heterogeneity", "mechanisms", "groups_mediators"},
    "no_controls": {"psm_did", "heterogeneity", "mechanisms", "groups_mediators"},
    "no_never": set(), "single_cohort": set(), "unbalanced": set(),
    "own_names": {"heterogeneity", "mechanisms"},
}
#: The chapters run on each shape (default: every city chapter). The reader's own groupings and
#: mediators matter only to the three chapters that use groupings or mediators.
CHAPTERS = {"own_names": ("heterogeneity", "mechanisms", "groups_mediators")}
#: Records a run must hold: the reader's own grouping and mediators are the ones estimated.
RECORDS = {("own_names", "groups_mediators"): ("groups_zone_wald_equal", "mediator_broadband_indirect",
                                               "mediator_services_indirect"),
           ("castle", "groups_mediators"): ("groups_census_region_wald_equal",)}
#: Sentences a run's page must hold: what the chapter says of the panel's shape.
SAYS = {("unbalanced", "did_staggered"): ("This panel is unbalanced:", "balanced sub-panel")}


def write_shape(name: str, folder: Path) -> tuple[Path, Path]:
    """Write the panel and column file of shape ``name`` into ``folder``."""
    from lib.data import load_panel

    folder.mkdir(parents=True, exist_ok=True)
    castle_spec = yaml.safe_load(CASTLE_COLUMNS.read_text())
    book = load_panel().data.drop(columns=["city_zh", "province_zh"])
    if name == "castle":
        frame, spec = pd.read_csv(CASTLE), castle_spec
    elif name == "one_treated":
        frame = pd.read_csv(CASTLE)
        first = frame[frame["post"] > 0].groupby("sid")["year"].min()
        keep = (set(frame["sid"]) - set(first.index)) | {first.idxmin()}
        # with the population weights: the baseline and event study weight, the others say not
        frame, spec = frame[frame["sid"].isin(keep)], {**castle_spec, "weights": "popwt"}
    elif name == "no_never":
        frame, spec = book[book["adoption_year"].notna()], {"unit": "city_id", "book_roles": True}
    elif name == "single_cohort":
        frame = book[book["adoption_year"].isna() | (book["adoption_year"] == 2020)]
        spec = {"unit": "city_id", "book_roles": True}
    elif name == "no_controls":
        frame, spec = book[["city_id", "year", "Inno", "adoption_year"]], {"adoption": "adoption_year"}
    elif name == "own_names":   # the reader's own grouping and mediators, under their own names
        frame = book.rename(columns={"region": "zone", "Diginf": "broadband", "Spec": "services"})
        spec = {"unit": "city_id", "adoption": "adoption_year", "controls": ["lnpop", "lngdp"],
                "groups": ["zone"], "mediators": ["broadband", "services"]}
    elif name == "unbalanced":
        frame = book.drop(index=book.sample(frac=0.1, random_state=3).index)
        spec = {"unit": "city_id", "book_roles": True}
    else:
        raise KeyError(name)
    data, columns = folder / f"{name}.csv", folder / f"{name}.yml"
    frame.to_csv(data, index=False)
    columns.write_text(yaml.safe_dump(spec))
    return data, columns


def run_on_shape(chapter: str, data: Path, columns: Path, out: Path, capsys) -> dict:
    """Run ``chapter`` on the shape; return its outcome, results and page text."""
    from lib.book.run import main

    args = [chapter, "-p", "data_path", str(data), "-p", "columns", str(columns), "--out", str(out)]
    for name, value in SMALL.get(chapter, {}).items():
        args += ["-p", name, value]
    code = main(args)
    err = capsys.readouterr().err
    folder = out / chapter
    outcome = {"code": code, "stderr": err, "results": None, "notebook": None}
    if code == 0:
        outcome["results"] = json.loads((folder / f"{chapter}.json").read_text())
        outcome["notebook"] = json.loads((folder / f"{chapter}.ipynb").read_text())
    return outcome


def errors_and_text(nb: dict) -> tuple[list[str], str]:
    """The error outputs of an executed notebook, and all its output text."""
    errors, text = [], []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                errors.append(o.get("ename", "?"))
            data = o.get("data", {})
            # what the page shows: outputs, and the values glued into its prose
            text += [str(v) for k, v in data.items()
                     if k.removeprefix("application/papermill.record/") in ("text/plain", "text/html", "text/markdown")]
            text.append("".join(o.get("text", "")) if isinstance(o.get("text"), list) else str(o.get("text", "")))
    return errors, "\n".join(text)


def check_run(shape: str, chapter: str, outcome: dict) -> None:
    """What every run on a reader's panel must satisfy."""
    if chapter in UNSUPPORTED[shape]:
        assert outcome["code"] == 1 and "cannot run on this panel" in outcome["stderr"], outcome["stderr"]
        assert "Traceback" not in outcome["stderr"]
        return
    assert outcome["code"] == 0, outcome["stderr"][-2000:]
    errors, text = errors_and_text(outcome["notebook"])
    assert not errors and "Traceback" not in text
    # a reader's panel: no truth and no paper number (the simulation study and the teaching runs
    # always draw the book's generator, whose truth is known whatever data the chapter reads)
    leaked = [e["name"] for e in outcome["results"]["estimates"]
              if e.get("paper") is not None or (e.get("truth") is not None
                                                and not e["name"].startswith(("simulation", "teaching")))]
    assert not leaked, f"{chapter} on {shape} records paper or truth values: {leaked}"
    assert "Book − paper" not in text and "Book − truth" not in text
    names = {e["name"] for e in outcome["results"]["estimates"]}
    assert set(RECORDS.get((shape, chapter), ())) <= names, sorted(names)
    for sentence in SAYS.get((shape, chapter), ()):
        assert sentence in text, f"{chapter} on {shape} does not say {sentence!r}"


def matrix(shape_names: tuple[str, ...]):
    """The shape fixture and the test of every city chapter on each of ``shape_names`` (the matrix
    is split over two files so that pytest-xdist runs the halves on two workers)."""
    import pytest

    @pytest.fixture(scope="module")
    def shapes(tmp_path_factory):
        folder = tmp_path_factory.mktemp("shapes")
        return {name: write_shape(name, folder) for name in shape_names}

    @pytest.mark.slow
    @pytest.mark.parametrize("shape, chapter", [(s, c) for s in shape_names
                                                for c in CHAPTERS.get(s, CITY_CHAPTERS)])
    def test_chapter_on_a_readers_panel(shape, chapter, shapes, tmp_path, capsys):
        data, columns = shapes[shape]
        check_run(shape, chapter, run_on_shape(chapter, data, columns, tmp_path, capsys))

    return shapes, test_chapter_on_a_readers_panel

"""The run command: parameter handling, rejection before running, failures surface."""

from __future__ import annotations

import pytest

import lib.book.run as run
from lib.book.run import RunError, coerce, main, resolve_parameters

from conftest import chapter_source, install_chapter

BROKEN = chapter_source(':tags: [parameters]\nsample = "all"\nn_draws = 10',
                        'raise ZeroDivisionError("deliberately broken 91c2")')


@pytest.fixture
def broken_chapters(tmp_path, monkeypatch):
    return install_chapter(tmp_path, monkeypatch, "broken", BROKEN)


def test_parameters_are_read_from_the_tagged_cell(broken_chapters):
    assert run.chapter_parameters("broken") == {"sample": "all", "n_draws": 10}


@pytest.mark.parametrize("chapter", run.toc_chapters())
def test_the_light_cell_reader_agrees_with_jupytext(chapter):
    """Chapters read their parameters cell without jupytext (3 s of imports per kernel):
    the reader must see the same code cells, tags and sources as jupytext does."""
    import jupytext

    path = run.CHAPTERS_DIR / f"{chapter}.md"
    expected = [(list(c.metadata.get("tags", [])), c.source)
                for c in jupytext.read(path).cells if c.cell_type == "code"]
    assert run.code_cells(path) == expected


def test_the_light_cell_reader_takes_yaml_options_and_empty_cells(tmp_path):
    import jupytext

    path = tmp_path / "x.md"
    path.write_text(chapter_source(':tags: [parameters]\nsample = "all"', "") +
                    "\n```{code-cell} ipython3\n---\ntags: [remove-input, hide-output]\n---\nx = 1\n```\n")
    expected = [(list(c.metadata.get("tags", [])), c.source)
                for c in jupytext.read(path).cells if c.cell_type == "code"]
    assert run.code_cells(path) == expected
    assert ["remove-input", "hide-output"] in [tags for tags, _ in expected]


def test_unknown_parameter_is_rejected_with_the_valid_names(broken_chapters):
    with pytest.raises(RunError, match=r"unknown parameter 'n_drawz'.*sample, n_draws"):
        resolve_parameters("broken", [("n_drawz", "5")])


def test_values_take_the_type_of_the_default(broken_chapters):
    assert resolve_parameters("broken", [("n_draws", "25")]) == {"n_draws": 25}
    with pytest.raises(RunError, match="expects an integer"):
        resolve_parameters("broken", [("n_draws", "many")])


def test_unknown_sample_is_rejected(broken_chapters):
    with pytest.raises(RunError, match="not a named sample"):
        resolve_parameters("broken", [("sample", "atlantis")])


def test_coerce_booleans_and_literals():
    assert coerce("x", "true", False, "c") is True
    assert coerce("x", "0", True, "c") is False
    assert coerce("x", "[1, 2]", [0], "c") == [1, 2]
    assert coerce("x", "1.5", 0.1, "c") == 1.5
    with pytest.raises(RunError):
        coerce("x", "maybe", True, "c")


def test_unknown_chapter_fails_before_running(capsys):
    assert main(["no_such_chapter"]) == run.EXIT_REJECTED
    assert "unknown chapter 'no_such_chapter'" in capsys.readouterr().err


def test_a_failing_cell_fails_the_run_and_shows_the_error(broken_chapters, tmp_path, capsys):
    code = main(["broken", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1, "the exit code is the number of failed runs"
    assert "chapter broken, code cell 2, line 1 (`raise ZeroDivisionError(\"deliberately broken 91c2\")`) failed:" in err
    assert "    ZeroDivisionError: deliberately broken 91c2" in err
    assert "\x1b[" not in err, "no ANSI-coloured traceback frames"
    kept = tmp_path / "out" / "broken.failed" / "broken.ipynb"
    assert kept.exists() and str(kept) in err, "the executed notebook is kept for inspection, and named"
    assert not (tmp_path / "out" / "broken").exists(), "a failed run is never put where results go"


def test_list_shows_chapters_and_parameters(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for chapter in run.runnable_chapters():
        assert chapter in out


def test_provincial_chapters_accept_their_own_samples():
    assert "years_2012_2019" in run.sample_names("fdi_empirics")
    assert "years_2012_2019" not in run.sample_names("baseline_did")
    with pytest.raises(RunError, match="not a named sample of baseline_did"):
        run._validate_sample("years_2012_2019", "baseline_did")


def test_a_run_does_not_leak_its_output_folder_into_the_environment(broken_chapters, tmp_path, monkeypatch):
    import os

    monkeypatch.delenv("CBEC_BOOK_OUTPUTS", raising=False)
    run.run_chapter("broken", {}, tmp_path / "out")
    assert "CBEC_BOOK_OUTPUTS" not in os.environ

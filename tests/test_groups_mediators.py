"""The page "Group effects and mediators on any panel": which columns it uses, why it leaves
others out, and the wording that depends on the estimates."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lib.book import chapter
from lib.book import groups_mediators as gm


def _readers_data(frame: pd.DataFrame, *, groups=(), mediators=(), controls=()):
    """A stand-in for a reader's ChapterData: the page reads only these attributes."""
    spec = SimpleNamespace(groups=tuple(groups), mediators=tuple(mediators), controls=tuple(controls))
    return SimpleNamespace(frame=frame, panel=SimpleNamespace(spec=spec), paper_comparable=False,
                           synthetic=False, truth=None)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(4)
    units, years = 30, 6
    f = pd.DataFrame({"city_id": np.repeat(np.arange(units), years),
                      "year": np.tile(np.arange(2000, 2000 + years), units)})
    adopt = np.where(np.arange(units) < 20, 2002 + np.arange(units) % 3, np.nan)
    f["adoption_year"] = adopt[f["city_id"]]
    f["CBEC"] = (f["year"] >= f["adoption_year"]).astype(int)
    f["zone"] = np.array(["north", "south", "east"])[f["city_id"] % 3]
    f["Inno"] = rng.normal(size=len(f)) + 0.5 * f["CBEC"] * (f["zone"] == "north")
    f["broadband"] = rng.normal(size=len(f)) + 0.3 * f["CBEC"]
    f["name"] = "unit " + f["city_id"].astype(str)                     # an identifier
    f["wave"] = f["year"] % 2                                         # varies within units
    f["patchy"] = f["zone"].where(f["city_id"] != 5)                  # missing for one unit
    f["many"] = f["city_id"] % 25                                      # too many levels
    f["lonely"] = np.where(f["city_id"] < 20, "pilot zone", "elsewhere")   # treated in one level
    f["label"] = "x"                                                   # a string mediator
    return f


def test_groupings_the_page_uses_and_why_it_leaves_others_out(frame):
    asked = "zone, name wave patchy many lonely absent Inno"
    choice = gm.choose_groupings(_readers_data(frame), asked)
    assert choice.used == ("zone",)
    notes = " ".join(choice.notes)
    for phrase in ("`name` has a different value for every unit",
                   "`wave` changes over time within 30 units",
                   "`patchy` is missing for 1 of the 30 units",
                   "`many` has 25 levels", "only 1 level of `lonely` has treated units",
                   "`absent` is not a column", "`Inno` plays another role"):
        assert phrase in notes, phrase
    # without a request: the column file's groups; nothing named, nothing used
    assert gm.choose_groupings(_readers_data(frame, groups=["zone"])).used == ("zone",)
    assert gm.choose_groupings(_readers_data(frame)).used == ()


def test_mediators_the_page_uses(frame):
    data = _readers_data(frame, mediators=["broadband", "label"], controls=["wave"])
    choice = gm.choose_mediators(data)
    assert choice.used == ("broadband",) and "`label` is not numeric" in choice.notes[0]
    assert "a control" in gm.choose_mediators(data, "wave").notes[0]


def test_neither_groupings_nor_mediators_stops_the_page_with_what_to_name(frame):
    data = _readers_data(frame)
    with pytest.raises(chapter.ChapterUnsupported, match="under `groups:`.*under `mediators:`"):
        gm.require_something(gm.choose_groupings(data), gm.choose_mediators(data))
    gm.require_something(gm.choose_groupings(data, "zone"), gm.choose_mediators(data))
    assert "supports no grouping" in gm.section_notice("groups", gm.Choice(()))
    assert "names no mediator" in gm.section_notice("mediators", gm.Choice((), ("`m` is constant",)))
    assert gm.section_notice("groups", gm.Choice(("zone",))) == ""


def test_group_effects_tables_text_and_records_on_a_readers_panel(frame):
    from lib.methods.heterogeneity import group_effects

    data = _readers_data(frame, groups=["zone"])
    results = gm.group_results(data, ["zone"], controls=[], cluster="city_id")
    direct = group_effects(frame, yname="Inno", dname="CBEC", group="zone", idname="city_id",
                           tname="year", vcov={"CRV1": "city_id"})
    assert results["zone"].interacted.params.equals(direct.interacted.params)
    effects, tests = gm.grouping_tables(results, {"zone": None})
    assert "truth" not in effects.data.columns                  # no truth on a reader's panel
    assert list(effects.data.index.get_level_values("level")) == ["east", "north", "south"]
    north = effects.data.loc[("zone", "north")]
    assert north["interacted"] == pytest.approx(direct.interacted.params["north×CBEC"], rel=1e-12)
    assert north["subsample"] == pytest.approx(direct.subsamples["north"].params["CBEC"], rel=1e-12)
    assert tests.data.loc["zone", "p"] == pytest.approx(direct.wald["p"], rel=1e-12)
    cited = gm.grouping_values(results, {"zone": None})
    assert set(cited.records) == {"groups_zone_east_interacted", "groups_zone_north_interacted",
                                  "groups_zone_south_interacted", "groups_zone_wald_equal"}
    assert all(r.get("truth") is None and r.get("paper") is None for r in cited.records.values())
    assert "zone (F = " in cited["groups_text"]
    gm.grouping_figure(results, {"zone": None})


def test_grouping_text_says_which_tests_reject():
    def fake(p):
        return SimpleNamespace(wald={"statistic": 4.0 if p < 0.05 else 0.5, "p": p})

    text = gm.grouping_text({"region": fake(0.01), "size": fake(0.40), "sector": fake(0.30)})
    assert text.startswith("The test of equal effects rejects at the 5 % level for region (F = 4.00, p = 0.010)")
    assert "It does not reject for size (F = 0.50, p = 0.400) and sector" in text
    assert gm.grouping_text({}) == ""
    assert "rejects" not in gm.grouping_text({"size": fake(0.4)}).split("It does not")[0]


def test_true_group_effects_on_the_books_panel_are_the_generators():
    data = chapter.chapter_data("", "", "all")
    truth = gm.true_group_effects(data, "region")
    # over the same treated city-years (all of them carry the outcome) as the generator's own
    full = data.truth.att_by_group["region"]
    np.testing.assert_allclose(truth.sort_index(), full.sort_index(), rtol=1e-12)
    assert gm.choose_groupings(data).used == ("region", "industry", "city_size", "agglomeration")
    assert gm.choose_mediators(data).used == ("Diginf", "Spec", "Envir")


@pytest.mark.parametrize("effects", ["twoway", "unit", "none"])
def test_mediator_table_and_text(frame, effects):
    data = _readers_data(frame, mediators=["broadband"])
    paths = gm.mediator_results(data, ["broadband"], controls=[], cluster="city_id",
                                effects=effects, bootstrap_reps=19, seed=2)
    med = paths["broadband"]
    table = gm.mediator_table(paths, None)
    row = table.data.loc["broadband"]
    assert row["indirect a·b"] == pytest.approx(med.a * med.b, rel=1e-12)
    assert row["N"] == med.nobs and "true a" not in table.data.columns
    assert {"twoway": "unit and period", "unit": "unit fixed", "none": "no fixed"}[effects] in table.notes[0]
    text = gm.mediator_text(paths)
    lo, hi = med.bootstrap_ci
    assert (("excludes zero" if lo > 0 or hi < 0 else "includes zero") in text
            and "sequential ignorability" in text)
    none = gm.mediator_text(gm.mediator_results(data, ["broadband"], controls=[], cluster="city_id",
                                                effects=effects, bootstrap_reps=0, seed=2))
    assert "Sobel z is" in none
    cited = gm.mediator_values(paths, None)
    assert cited.records["mediator_broadband_indirect"]["ci_lower"] == lo

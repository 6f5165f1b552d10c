"""What the book's numbers in a table or figure were computed on, carried into its files.

A chapter's data loader declares the data once (:func:`declare`); every table it saves
then writes that description in a ``data`` column of its CSV, and every figure carries it
as a note under the plot and in the PNG's ``Description`` field. Tables and figures of real
facts or printed numbers pass their own ``source`` (or ``None`` for none).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataSource", "declare", "current", "resolve", "FROM_CHAPTER", "semi_synthetic", "readers"]


@dataclass(frozen=True)
class DataSource:
    """``text`` for a CSV column, ``note`` for under a figure; ``synthetic`` when simulated, and then
    ``qualifier``, the words the page adds to each paragraph that states a number computed on it."""

    text: str
    note: str
    synthetic: bool = False
    qualifier: str = ""


#: The default of ``source=`` in :meth:`Table.save` and :func:`save_figure`: the chapter's data.
FROM_CHAPTER = object()

_CURRENT: list[DataSource | None] = [None]


def semi_synthetic(what: str) -> DataSource:
    """The description of a semi-synthetic panel (``what``: e.g. "the book's semi-synthetic city
    panel (seed 20241123)")."""
    return DataSource(
        text=(f"{what}: real units and policy dates, simulated covariates and outcomes with a known "
              "true effect; not data about China"),
        note="Semi-synthetic data (simulated outcomes, known truth): not findings about China",
        synthetic=True, qualifier="semi-synthetic data")


def readers(name: str) -> DataSource:
    """The description of a reader's own panel (file name ``name``)."""
    return DataSource(text=f"the reader's panel {name}", note=f"Data: the reader's panel {name}")


def declare(source: DataSource | None) -> None:
    """Set (or with ``None`` clear) what the current chapter's numbers are computed on."""
    _CURRENT[0] = source


def current() -> DataSource | None:
    """What the current chapter declared, or ``None``."""
    return _CURRENT[0]


def resolve(source) -> DataSource | None:
    """``source`` as given to a save: the chapter's declaration, a string (real data: used as
    both text and note) or a :class:`DataSource`; ``None``/"" for no description."""
    if source is FROM_CHAPTER:
        return current()
    if not source:
        return None
    if isinstance(source, DataSource):
        return source
    return DataSource(text=str(source), note=str(source))

"""The book floor: chapter plumbing, build, run command, preview, descriptives.

* :mod:`lib.book.chapter` -- what a chapter calls: ``setup``, ``glue``, ``record``,
  ``save_results``, ``chapter_data`` (re-exported here, so a chapter writes
  ``from lib import book`` and ``book.glue(...)``);
* :mod:`lib.book.build` -- ``make book`` (``python -m lib.book.build``) and the
  determinism checks;
* :mod:`lib.book.run` -- the run command (``python -m lib.run``);
* :mod:`lib.book.preview` -- one chapter's preview;
* :mod:`lib.book.describe` -- the data chapter's descriptives;
* :mod:`lib.book.fdi` -- the companion paper's chapter helpers;
* :mod:`lib.book.event_study`, :mod:`~lib.book.placebo`, :mod:`~lib.book.psm_tables`,
  :mod:`~lib.book.heterogeneity`, :mod:`~lib.book.mechanisms` -- what each section's prose
  cites, and the wording that depends on the data;
* :mod:`lib.book.staggered_sections` -- the same for the staggered-DID chapter;
* :mod:`lib.book.simulations` -- the simulation experiments on fresh draws of the generator;
* :mod:`lib.book.audit` -- ``python -m lib.book.audit``: glue calls and hidden cells, counted.

The top floor: it may import :mod:`lib.methods`, :mod:`lib.data` and :mod:`lib.present`.
"""

# The chapter plumbing is imported on first use (PEP 562), so that `python -m lib.book.build`
# with nothing to rebuild does not load numpy and pandas.
_CHAPTER_NAMES = ("ChapterData", "ChapterUnsupported", "Cited", "and_list",
                  "balanced_frame", "with_comparison_group",
                  "chapter_data", "corpus_banner", "data_banner", "declare_source", "estimate_values", "glue", "glue_all",
                  "glue_estimate", "glue_if_truth", "glue_machine", "median_seconds", "notice", "record",
                  "record_result", "recorded", "result_record", "save_results", "setup", "show")
__all__ = ["MACHINE_KEY_PREFIX", *_CHAPTER_NAMES]


def __getattr__(name: str):
    if name == "MACHINE_KEY_PREFIX":
        from lib.book.build import MACHINE_KEY_PREFIX

        return MACHINE_KEY_PREFIX
    if name in _CHAPTER_NAMES:
        from lib.book import chapter

        return getattr(chapter, name)
    raise AttributeError(f"module 'lib.book' has no attribute {name!r}")

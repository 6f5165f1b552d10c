"""The shape matrix, part 1: one treated unit, no controls (every city chapter); the reader's own
groupings and mediators. The real state panel (castle) is the reader's book of
``tests/test_reader_book.py``, whose chapter runs meet the same checks there."""

from _reader_shapes import matrix

shapes, test_chapter_on_a_readers_panel = matrix(("one_treated", "no_controls", "own_names"))

"""The shape matrix, part 2: cuts of the book's panel (no never-treated units, one cohort, 10 % of
the rows missing), every city chapter."""

from _reader_shapes import matrix

shapes, test_chapter_on_a_readers_panel = matrix(("no_never", "single_cohort", "unbalanced"))

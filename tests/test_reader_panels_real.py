"""The shape matrix, part 1: a real state panel, one treated unit, no controls (every city chapter);
the reader's own groupings and mediators."""

from _reader_shapes import matrix

shapes, test_chapter_on_a_readers_panel = matrix(("castle", "one_treated", "no_controls", "own_names"))

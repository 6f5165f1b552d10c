"""The presentation layer: one table formatter and one figure style for the whole book.

* :mod:`lib.present.tables` -- :func:`~lib.present.tables.regression_table`,
  comparison and descriptive tables, number formatting (economics convention);
* :mod:`lib.present.figures` -- the book's figure style (``book.mplstyle``),
  palette and the shared plot helpers.

Result objects' ``.table()`` and ``.plot()`` conveniences call into it, so it
imports nothing of the book's chapter machinery, the data or the methods: only
:mod:`lib` itself (``tests/test_architecture.py``).
"""

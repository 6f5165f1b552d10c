"""The data floor: every panel the book reads, the real facts and the generators.

* :mod:`lib.data.contract` -- the data contract: :class:`PanelSpec`,
  :func:`load_panel`, :func:`validate_panel`, :func:`model_frame` (re-exported here);
* :mod:`lib.data.facts` -- real facts: cities, provinces, pilot batches and dates;
* :mod:`lib.data.samples` -- the named samples of the city panel;
* :mod:`lib.data.groups` -- the book's groupings of cities (industry, city size);
* :mod:`lib.data.synthetic` -- the city generator and its :class:`~lib.data.synthetic.Truth`;
* :mod:`lib.data.provincial` -- the companion paper's provincial generator, truth,
  contract and samples;
* :mod:`lib.data.indices` -- derived variables both generators build (the eq. 11
  location quotient, the entropy-weight index);
* :mod:`lib.data.published` -- the papers' printed numbers, as transcribed.

Imports nothing from :mod:`lib.methods` or :mod:`lib.book` (``tests/test_architecture.py``).
"""

from lib.data.contract import (CANONICAL, CITY_PANEL, DEFAULT_PANEL, FORMATS, DataContractError, Panel,
                               PanelSpec, load_panel, model_frame, read_table, validate_panel)

__all__ = ["CANONICAL", "CITY_PANEL", "DEFAULT_PANEL", "FORMATS", "DataContractError", "Panel",
           "PanelSpec", "load_panel", "model_frame", "read_table", "validate_panel"]

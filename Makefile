# The two commands of the README's Quick start:
#   make book   build the book on the shipped default data  -> _build/html/index.html
#   make test   run the whole test suite (unit, reference, notebooks, built site)
# Both create .venv from the pinned requirements on first use and are idempotent.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test clean env benchmarks

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -c requirements-lock.txt
	@touch $(STAMP)

env: $(STAMP)

# make book DATA=my_panel.csv COLUMNS=my_columns.yml  builds the book on a reader's panel
# into _build/reader/my_panel/ (the default book is untouched); PROVINCIAL=FILE (and
# PROVINCIAL_COLUMNS=FILE.yml) runs the companion paper's chapters on a provincial panel too.
book: $(STAMP)
ifdef DATA
	$(PY) -m lib.book.reader_book "$(DATA)" $(if $(COLUMNS),"$(COLUMNS)") \
	    $(if $(PROVINCIAL),--provincial "$(PROVINCIAL)") $(if $(PROVINCIAL_COLUMNS),--provincial-columns "$(PROVINCIAL_COLUMNS)")
else
	$(PY) -m lib.book.build
endif

# The strict build runs first, on its own: it executes the chapters whose cache is
# stale, so that the tests' own (cached, strict) rebuild starts no kernel while the
# chapter tests start theirs. pytest exits 5 when it collects nothing; that must not
# pass, and it does not (any non-zero exit fails `make test`).
test: $(STAMP)
	$(PY) -m lib.book.build --strict
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile --durations=25

benchmarks: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf _build outputs

"""The layout of ``lib/``: three floors with one-way imports, estimators that know no panel.

* ``lib.data`` (contract, facts, samples, generators) imports neither
  ``lib.methods`` nor ``lib.book``;
* ``lib.methods`` (estimators, result objects) never imports ``lib.book``;
* ``lib.present`` (the table formatter and figure style, which result objects'
  ``.table()``/``.plot()`` call) imports none of the three;
* nothing but ``lib/__init__.py`` and the ``python -m lib.run`` entry point sits
  beside the floors;
* no public function or class of ``lib.methods`` has a default that names a
  column of the book's panels (``city_id``, ``Inno``, ``year``, ...): those names
  live in the data contract and the chapters.

Imports are read from the source (every ``import``, also inside functions), so
a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from lib import ROOT

LIB = ROOT / "lib"
FLOORS = ("data", "methods", "present", "book")
#: floor -> floors it must not import
FORBIDDEN = {"data": {"methods", "book"}, "methods": {"book"}, "present": {"data", "methods", "book"},
             "root": {"data", "methods", "present", "book"}}


def _floor(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "lib":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in FLOORS else "root"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported lib module or lib.<name>) for every import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lib":  # `from lib import methods` imports the floor itself
                out += [(node.lineno, f"lib.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return [(line, mod) for line, mod in out if mod.split(".")[0] == "lib"]


def _modules() -> list[Path]:
    return sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(LIB).as_posix())
def test_imports_run_one_way(path):
    rel = path.relative_to(LIB)
    if rel.as_posix() == "run.py":  # the `python -m lib.run` entry point: it calls lib.book.run
        return
    here = rel.parts[0] if len(rel.parts) > 1 else "root"
    bad = [f"{rel}:{line} imports {mod}" for line, mod in _imports(path)
           if _floor(mod) in FORBIDDEN.get(here, set())]
    assert not bad, "\n".join(bad)


def test_only_the_floors_and_the_run_entry_point_sit_in_lib():
    loose = sorted(p.name for p in LIB.glob("*.py"))
    assert loose == ["__init__.py", "run.py"], loose
    assert sorted(p.name for p in LIB.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(FLOORS)


def test_the_checker_sees_a_forbidden_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from lib.book import glue\n    import lib.methods.did\n"
                     "from lib import book, ROOT\n")
    assert sorted(m for _, m in _imports(probe)) == ["lib.ROOT", "lib.book", "lib.book", "lib.methods.did"]
    assert {_floor(m) for _, m in _imports(probe)} == {"book", "methods", "root"}


def _panel_columns() -> set[str]:
    """Column names of the book's own panels (the city and the provincial one), from their
    generators, plus the raw facts' names."""
    from lib.data import provincial, synthetic

    return {*synthetic.PANEL_COLUMNS, *provincial.PANEL_COLUMNS, "city", "treated"}


#: Years of the book's panels: a default base year or window is as China-specific as a column.
PANEL_YEARS = set(range(2010, 2023))


def _public_callables():
    import lib.methods

    for info in pkgutil.iter_modules(lib.methods.__path__):
        module = importlib.import_module(f"lib.methods.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if inspect.isfunction(meth) and not meth_name.startswith("_"):
                        yield f"{module.__name__}.{name}.{meth_name}", meth
            elif inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj


def test_no_estimator_default_names_a_column_or_a_year_of_the_books_panels():
    columns = _panel_columns()
    assert {"Inno", "lnpop", "urban_pop", "FDI", "DT"} <= columns   # the generators' names were read
    bad = []
    for qualname, fn in _public_callables():
        for p in inspect.signature(fn).parameters.values():
            default = p.default
            values = (list(default) if isinstance(default, (tuple, list))
                      else list(default.values()) if isinstance(default, dict) else [default])
            hits = [v for v in values if isinstance(v, str) and v in columns]
            years = [v for v in values if "year" in p.name and isinstance(v, int) and v in PANEL_YEARS]
            if hits or years:
                bad.append(f"{qualname}({p.name}={default!r})")
    assert not bad, "defaults naming the book's columns or years:\n  " + "\n  ".join(bad)


def test_no_module_has_an_invalid_escape_sequence():
    """A docstring with LaTeX must be raw: '\\hat' in a plain string is an invalid escape (a
    DeprecationWarning today, a SyntaxError in a later Python)."""
    import warnings

    root = Path(__file__).resolve().parent.parent
    bad = []
    for path in sorted([*root.glob("lib/**/*.py"), *root.glob("tests/*.py"), *root.glob("benchmarks/*.py")]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile(path.read_text(), str(path), "exec")
            except SyntaxError as err:
                bad.append(f"{path.relative_to(root)}:{err.lineno}: {err.msg}")
    assert not bad, "\n".join(bad)


def test_no_docstring_lost_a_latex_command_to_a_valid_escape():
    r"""'\beta', '\alpha' or '\text' in a plain string are valid escapes (a backspace, a bell, a tab
    and 'ext'), so they compile and the rendered maths is silently wrong: strings with LaTeX must
    be raw."""
    import ast
    import re

    root = Path(__file__).resolve().parent.parent
    bad = []
    for path in sorted([*root.glob("lib/**/*.py"), *root.glob("tests/*.py"), *root.glob("benchmarks/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    re.search(r"[\x07\x08\x0b\x0c]", node.value) or re.search(r"\t(ext|heta|au|imes|ilde)", node.value)):
                bad.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:60]!r}")
    assert not bad, "\n".join(bad)

"""``python -m lib.book.audit``: how the chapters put numbers into prose, counted.

Prints, per chapter and in total, the ``book.glue*``/``book.record*`` calls and
the longest hidden code cell (``remove-cell``, ``remove-input`` or ``hide-*``),
the two figures the architecture aims to keep small: a section's values come
from one lib call and are glued in one ``book.glue_all``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lib import ROOT

_CALL = re.compile(r"\bbook\.(glue|record|glue_[a-z_]+|record_[a-z_]+)\(")
_CELL = re.compile(r"```\{code-cell\} ipython3\n(.*?)```", re.S)
_HIDDEN = re.compile(r"remove-cell|remove-input|hide-")


def chapter_stats(path: Path) -> dict:
    """``glue_calls`` and the ``longest_hidden_cell`` (non-blank lines, with its line number)."""
    text = path.read_text(encoding="utf-8")
    longest = (0, 0)
    for m in _CELL.finditer(text):
        first, *body = m.group(1).split("\n")
        if _HIDDEN.search(first):
            n = sum(1 for line in body if line.strip())
            longest = max(longest, (n, text[:m.start()].count("\n") + 1))
    return {"glue_calls": len(_CALL.findall(text)), "longest_hidden_cell": longest[0],
            "at_line": longest[1]}


def main() -> int:
    rows = {p.stem: chapter_stats(p) for p in sorted((ROOT / "chapters").glob("*.md"))}
    for name, r in rows.items():
        print(f"{name:<18} {r['glue_calls']:>4} glue/record calls; longest hidden cell "
              f"{r['longest_hidden_cell']:>3} lines" + (f" (line {r['at_line']})" if r["at_line"] else ""))
    worst = max(rows.items(), key=lambda kv: kv[1]["longest_hidden_cell"])
    print(f"total: {sum(r['glue_calls'] for r in rows.values())} glue/record calls; longest hidden cell "
          f"{worst[1]['longest_hidden_cell']} lines ({worst[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

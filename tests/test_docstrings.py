"""Every module says in its first docstring line what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", "var", "versions", "node_modules"}


def test_every_module_starts_with_a_docstring() -> None:
    undocumented = [
        str(path.relative_to(ROOT))
        for path in sorted(ROOT.glob("**/*.py"))
        if not SKIPPED & set(path.relative_to(ROOT).parts)
        and not (ast.get_docstring(ast.parse(path.read_text())) or "").strip()
    ]
    assert undocumented == []

"""Names that explain themselves: no two classes of the product share a name (a reader who
finds `Enricher` in a traceback should know which one it is)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_two_product_classes_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for package in ("collector", "enrich"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    where[node.name].append(str(path.relative_to(ROOT)))
    shared = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not shared, f"classes defined more than once: {shared}"

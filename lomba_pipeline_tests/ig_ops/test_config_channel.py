"""One configuration channel for the Instagram code: settings are read at the entry points
(``cli.py``, ``definitions.py``) and reach run-time code only through resources."""

import ast
from pathlib import Path

import lomba_pipeline

PACKAGE = Path(lomba_pipeline.__file__).parent
ENTRY_POINTS = {"cli.py", "definitions.py"}


def _reads_settings(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "lomba_pipeline.settings":
            if any(alias.name == "get_settings" for alias in node.names):
                return True
    return False


def test_no_instagram_module_below_the_entry_points_reads_settings():
    modules = [p for p in (PACKAGE / "ig_ops").glob("*.py") if p.name not in ENTRY_POINTS]
    modules += sorted((PACKAGE / "resources").glob("instagram*.py"))
    modules.append(PACKAGE / "secrets_box.py")
    assert len(modules) > 10
    assert [p.name for p in modules if _reads_settings(p)] == []

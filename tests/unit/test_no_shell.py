"""No code path starts a shell, and only run.py starts processes (checked on the source)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "lib" / "xcatha").glob("*.py")) + sorted((ROOT / "agents").iterdir())


def calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_shell_anywhere():
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for call in calls(tree):
            for keyword in call.keywords:
                assert not (keyword.arg == "shell" and getattr(keyword.value, "value", False)), path
            name = ast.unparse(call.func)
            assert name not in ("os.system", "os.popen", "os.execl", "os.execlp", "os.spawnl"), (path, name)


def test_only_run_py_imports_subprocess():
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names} | {node.module for node in ast.walk(tree)
                                                if isinstance(node, ast.ImportFrom)}
        if path.name != "run.py":
            assert "subprocess" not in imported, path

"""The run directory's file names: one owner, imported by the run directory and the history, and a bottom
floor that imports nothing of the package."""
import ast
from pathlib import Path

from naomi_nb import history, rundir, runfiles

PACKAGE = Path(runfiles.__file__).parent


def package_imports(path: Path) -> set[str]:
    """The modules of the package a source file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("naomi_nb")):
            module = (node.module or "").removeprefix("naomi_nb").lstrip(".")
            found |= {module} if module else {a.name for a in node.names}  # from . import rundir: rundir
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("naomi_nb.") for a in node.names if a.name.startswith("naomi_nb.")}
    return found


def test_every_name_is_a_distinct_file():
    names = [getattr(runfiles, n) for n in runfiles.__all__]
    assert all(isinstance(n, str) and n and "/" not in n for n in names)
    assert len(set(names)) == len(names)


def test_the_run_directory_and_the_history_use_the_same_names():
    for name in runfiles.__all__:
        assert getattr(rundir, name) == getattr(runfiles, name), name  # rundir.CONFIG keeps working
    assert history.HISTORY == runfiles.HISTORY == "history.jsonl"


def test_runfiles_imports_nothing_of_the_package_and_history_not_the_run_directory():
    assert package_imports(PACKAGE / "runfiles.py") == set()
    assert not any(m.split(".")[0] == "rundir" for m in package_imports(PACKAGE / "history.py"))

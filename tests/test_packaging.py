"""environment.yml and pyproject.toml name the same dependencies."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge's name -> PyPI's


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_name(d) for d in pyproject["project"]["dependencies"]}
    conda, pip = set(), set()
    in_pip = in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if not line.startswith(" "):
            in_deps = line.startswith("dependencies:")
        if not in_deps:
            continue
        if line.strip().startswith("#") or not line.strip().startswith("- "):
            continue
        item = line.strip()[2:].strip()
        if item == "pip:":
            in_pip = True
            continue
        indent = len(line) - len(line.lstrip())
        if in_pip and indent > 2:
            if not item.startswith("-e"):
                pip.add(_name(item))
        else:
            in_pip = False
            conda.add(CONDA_NAMES.get(_name(item), _name(item)))
    conda -= {"python", "pip"}
    assert conda | pip == wanted
    assert not conda & pip
    for req in ("torch", "numpy", "nltk", "tqdm", "matplotlib", "ipywidgets", "jupyterlab", "papermill", "nbmake", "pytest"):
        assert req in wanted


def test_torch_range_admits_the_pinned_wheel():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_spec = next(d for d in deps if _name(d) == "torch")
    assert "<" not in torch_spec and "==" not in torch_spec  # a lower bound only, so Colab keeps its own torch

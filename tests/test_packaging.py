"""environment.yml and pyproject.toml name the same dependencies."""
import re
import tomllib

import yaml
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge's name -> PyPI's


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_name(d) for d in pyproject["project"]["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), set()
    for item in env["dependencies"]:
        if isinstance(item, dict):  # the pip: section
            pip |= {_name(spec) for spec in item["pip"] if not spec.startswith("-e")}
        else:
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

"""The components' registry (naomi_nb/components.py): every research variable found by name the same way,
its knobs declared beside its code, a new one only a new file, and a test of its own for each."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from naomi_nb import components
from naomi_nb.components import Knob, knob
from naomi_nb.config import TrainConfig, applies
from naomi_nb.errors import ConfigError
from naomi_nb.objectives import Objective

PACKAGE = Path(components.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent


def test_every_kind_finds_its_components_by_name():
    assert {"seed", "negatives", "graded", "inherit"} <= set(components.names("objective"))
    assert set(components.names("geometry")) >= {"free", "tree"}
    assert components.names("sampler")[0] == "uniform" and {"batch", "degree"} <= set(components.names("sampler"))
    assert components.names("sparsity")[0] == "seed" and {"proximal", "nonneg"} <= set(components.names("sparsity"))
    assert components.names("schedule")[0] == "auto"
    for name, cls in components.registry("objective").items():
        assert cls.name == name and cls.terms and issubclass(cls, Objective)
    for kind in components.KINDS:
        for name, c in components.registry(kind).items():
            assert components.get(kind, name) is c and c.name == name
            assert components.summary(c), f"{kind} {name} says nothing about itself"
            for key in components.knobs_of(c):  # every knob of a trained component is a config field
                if components.KINDS[kind].field is not None:
                    assert key in TrainConfig.__dataclass_fields__


def test_an_unknown_name_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown objective 'nope' \\(choose from graded, .*seed"):
        components.get("objective", "nope")
    with pytest.raises(ConfigError, match="--objective must be one of .*negatives.*seed"):
        TrainConfig(objective="nope")
    with pytest.raises(ConfigError, match="--negative-sampler must be one of uniform, batch, degree"):
        TrainConfig(negative_sampler="nope")


def test_knobs_check_their_ranges_and_choices():
    k = knob(0.5, "a share", range="(0, 1]")
    k.check("--x", 1.0)
    with pytest.raises(ConfigError, match=r"^--x must be in \(0, 1\] \(got 0\)$"):
        k.check("--x", 0)
    with pytest.raises(ConfigError, match=r"^--y must be >= 2 \(got 1\)$"):
        knob(3, "n", range=">= 2").check("--y", 1)
    with pytest.raises(ConfigError, match="must be one of a, b"):
        knob("a", "c", choices=("a", "b")).check("--z", "c")
    with pytest.raises(ValueError, match="knob range"):
        Knob(1, "bad", range="1..2")
    # declared ranges reach the configuration
    with pytest.raises(ConfigError, match=r"--graded-hops must be in \[2, 20\] \(got 1\)"):
        TrainConfig(graded_hops=1)
    with pytest.raises(ConfigError, match=r"--inherit-pairs must be in \(0, 1\]"):
        TrainConfig(inherit_pairs=0.0)


def test_knobs_add_up_along_bases_and_shared_ones_have_several_owners():
    graded = components.knobs_of(components.get("objective", "graded"))
    assert {"negatives", "negative_margin", "inherit_pairs", "graded_hops"} <= set(graded)
    assert "graded_hops" not in components.knobs_of(components.get("objective", "negatives"))
    settings = components.settings()
    assert set(settings["negatives"].owners) == {"negatives", "graded", "inherit"}
    assert set(settings["proximal_strength"].owners) == {"proximal", "nonneg"}
    assert components.condition("tree_weight") == ("geometry", ("tree",))
    assert components.condition("lr") is None


def test_settings_apply_by_component_and_condition():
    assert applies({"objective": "negatives"}, "negative_sampler")
    assert not applies({"objective": "seed"}, "negative_sampler")
    assert not applies({"dynamic_dims": False}, "expand_by") and applies({"dynamic_dims": True}, "expand_by")
    assert applies(TrainConfig(sparsity_mode="proximal"), "proximal_strength")
    assert applies(TrainConfig(sparsity_mode="nonneg"), "proximal_strength")
    assert not applies(TrainConfig(), "proximal_strength") and applies(TrainConfig(), "lr")
    assert applies(TrainConfig(geometry="tree"), "tree_weight") and not applies(TrainConfig(), "tree_weight")


def test_two_components_of_a_kind_may_not_share_a_name():
    class Other:
        __module__, __qualname__ = "elsewhere", "Other"

    with pytest.raises(ImportError, match="two objectives are named 'seed'"):
        components.register("objective", "seed")(Other)


def test_every_registered_component_has_a_test_of_its_own():
    """As PyKEEN's MetaTestCase: a component in naomi_nb/<kind>/<module>.py has tests/<kind>/test_<module>.py."""
    missing = []
    for kind, k in components.KINDS.items():
        folder = k.package.split(".")[-1]
        for name, c in components.registry(kind).items():
            module = c.__module__.split(".")[-1]
            if c.__module__.startswith("naomi_nb.") and not (TESTS / folder / f"test_{module}.py").is_file():
                missing.append(f"tests/{folder}/test_{module}.py ({kind} {name})")
    assert not missing, "components without a test of their own: " + ", ".join(missing)


def copy_package(tmp_path) -> Path:
    copy = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy / "naomi_nb", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def run_cli(copy: Path, *args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "naomi_nb", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_a_renamed_copy_of_graded_trains_and_shows_its_knobs_with_no_other_file_touched(tmp_path, tiny):
    """Copy graded.py, replace every 'graded' by another word: it trains under that name and its knobs are
    --WORD-... flags; nothing else in the package changes."""
    copy = copy_package(tmp_path)
    src = (copy / "naomi_nb" / "objectives" / "graded.py").read_text()
    assert src.count("graded") >= 5
    (copy / "naomi_nb" / "objectives" / "layered.py").write_text(src.replace("graded", "layered"))
    help_text = run_cli(copy, "train", "--help", cwd=tmp_path).stdout
    assert "--layered-hops" in help_text and "--layered-weight" in help_text and "--graded-hops" in help_text
    run = tmp_path / "run"
    out = run_cli(copy, "train", "--objective", "layered", "--layered-hops", "3", "--training-data", str(tiny),
                  "--output-dir", str(run), "--epochs", "2", "--batch-size", "64", "--embedding-dim", "4",
                  "--no-analyze", "--device", "cpu", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == "layered" and config["layered_hops"] == 3
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["terms"] for r in records] == [["distance", "negative", "layered", "sparsity"]] * 2
    # its knob takes effect only with it
    refused = run_cli(copy, "train", "--objective", "seed", "--layered-hops", "3", "--training-data", str(tiny),
                      cwd=tmp_path)
    assert refused.returncode == 2 and "--layered-hops takes effect only with --objective layered" in refused.stderr


@pytest.mark.parametrize("kind, folder, module, body", [
    ("geometry", "geometries", "doubled", '''
from naomi_nb.components import knob, register
from naomi_nb.geometries import Geometry


@register("geometry")
class Doubled(Geometry):
    """Every vector is its row times --doubled-scale (a test geometry)."""

    name = "doubled"
    knobs = {"doubled_scale": knob(2.0, "the factor", range="> 0")}
'''),
    ("sampler", "samplers", "first", '''
import torch

from naomi_nb.components import register
from naomi_nb.samplers import Sampler


@register("sampler")
class First(Sampler):
    """Always sense 0 (a test sampler)."""

    name = "first"

    def draw(self, n):
        return torch.zeros(n, dtype=torch.long, device=self.device)
'''),
])
@pytest.mark.slow
def test_a_new_geometry_or_sampler_is_one_new_file(tmp_path, tiny, kind, folder, module, body):
    copy = copy_package(tmp_path)
    (copy / "naomi_nb" / folder / f"{module}.py").write_text(body)
    flag = "--" + components.KINDS[kind].field.replace("_", "-")
    help_text = run_cli(copy, "train", "--help", cwd=tmp_path).stdout
    assert f"{module}: " in help_text
    run = tmp_path / "run"
    out = run_cli(copy, "train", flag, module, "--objective", "negatives", "--training-data", str(tiny),
                  "--output-dir", str(run), "--epochs", "1", "--batch-size", "64", "--embedding-dim", "4",
                  "--no-analyze", "--device", "cpu", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())[components.KINDS[kind].field] == module

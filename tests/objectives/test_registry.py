"""The registry: objectives found by name in the folder, and a new one that is only a new file."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from naomi_nb import objectives
from naomi_nb.config import TrainConfig, applies

PACKAGE = Path(objectives.__file__).resolve().parents[1]


def test_the_registry_finds_every_objective_by_name():
    assert {"seed", "negatives"} <= set(objectives.names())
    for name, cls in objectives.registry().items():
        assert cls.name == name and cls.terms and issubclass(cls, objectives.Objective)
        assert all(f in TrainConfig.__dataclass_fields__ for f in cls.flags)  # flags are config fields
    with pytest.raises(ValueError, match="unknown objective 'nope'"):
        objectives.get("nope")


def test_an_unknown_objective_is_a_one_line_config_error():
    from naomi_nb.config import ConfigError

    with pytest.raises(ConfigError, match="--objective must be one of .*negatives.*seed"):
        TrainConfig(objective="nope")


def test_settings_apply_by_objective_and_condition():
    assert applies({"objective": "negatives"}, "negative_sampler")
    assert not applies({"objective": "seed"}, "negative_sampler")
    assert not applies({"dynamic_dims": False}, "expand_by") and applies({"dynamic_dims": True}, "expand_by")
    assert applies(TrainConfig(sparsity_mode="proximal"), "proximal_strength")
    assert not applies(TrainConfig(), "proximal_strength") and applies(TrainConfig(), "lr")


def test_a_copied_objective_module_trains_with_no_other_file_touched(tmp_path, tiny):
    """Copy negatives.py, change only its name: ``--objective`` finds it and trains (in a copy of the package)."""
    copy = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy / "naomi_nb", ignore=shutil.ignore_patterns("__pycache__"))
    src = (copy / "naomi_nb" / "objectives" / "negatives.py").read_text()
    assert src.count('name = "negatives"') == 1
    (copy / "naomi_nb" / "objectives" / "my_copy.py").write_text(src.replace('name = "negatives"', 'name = "my_copy"'))
    env = {**os.environ, "PYTHONPATH": str(copy), "TQDM_DISABLE": "1"}
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "naomi_nb", "train", "--objective", "my_copy", "--training-data",
                          str(tiny), "--output-dir", str(run), "--epochs", "2", "--batch-size", "64",
                          "--embedding-dim", "4", "--no-analyze", "--device", "cpu"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Negative:" in out.stdout  # its terms, in the seed's log lines
    assert json.loads((run / "config.json").read_text())["objective"] == "my_copy"
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["terms"] for r in records] == [["distance", "negative", "sparsity"]] * 2

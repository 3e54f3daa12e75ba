"""Nothing lost, ever: non-finite settings refused, checkpoints and embeddings verified by checksum, a history
with every epoch exactly once after any crash, and resumes that cannot shrink or overrun a run. The fault
machinery (kills, damaged files, one-line errors) is `test_reliability`'s."""
from __future__ import annotations

import json
import math

import pytest

from naomi_nb.__main__ import main
from naomi_nb.config import NEVER_SECONDS, ConfigError, TrainConfig, config_from_args
from test_reliability import SMALL, one_line_error

FLOAT_FIELDS = [f for f, d in TrainConfig.__dataclass_fields__.items() if isinstance(d.default, float)]


# ---------------------------------------------------------------- non-finite and out-of-range settings

@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_every_float_flag_refuses_non_finite_values_in_one_line(tmp_path, capsys, field, value):
    flag = "--" + field.replace("_", "-")
    code = main(["train", "--training-data", str(tmp_path / "g"), "--output-dir", str(tmp_path / "r"), f"{flag}={value}"])
    assert code == 2
    one_line_error(capsys.readouterr().err, flag, "finite")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_a_config_never_holds_a_non_finite_float(tmp_path, field):
    """Notebooks and config.json pass through `validate` too, so config.json can never get a null for one."""
    for bad in (math.inf, -math.inf, math.nan, 10**400):
        with pytest.raises(ConfigError, match="finite"):
            TrainConfig(**{field: bad})
    good = TrainConfig().to_dict()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**good, field: math.inf}))  # Python's json writes Infinity, and reads it back
    with pytest.raises(ConfigError, match="finite"):
        TrainConfig.load(path)


def test_checkpoint_seconds_never_is_a_named_option_and_strict_json(tmp_path):
    from naomi_nb.__main__ import build_parser

    cfg = config_from_args(build_parser().parse_args(["train", "--checkpoint-seconds", "never"]))
    assert cfg.checkpoint_seconds == NEVER_SECONDS
    cfg.save(tmp_path / "config.json")
    json.loads((tmp_path / "config.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert TrainConfig.load(tmp_path / "config.json") == cfg


@pytest.mark.parametrize("args, message", [
    (["--output-dir", ""], "--output-dir must name a directory"),
    (["--output-dir", "r", "--val-fraction", "0.9999"], "--val-fraction must be in (0, 0.5]"),
    (["--output-dir", "r", "--val-fraction", "0"], "--val-fraction must be in (0, 0.5]"),
    (["--output-dir", "r", "--lr", "1e6"], "--lr must be in (0, 10]"),
])
def test_out_of_range_train_flags_are_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--training-data", str(tmp_path / "g"), *args]) == 2
    one_line_error(capsys.readouterr().err, message)
    assert list(tmp_path.iterdir()) == []  # nothing trained into the current directory

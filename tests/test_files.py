"""naomi_nb.files: atomic writes, and the permissions of what the kit writes."""
import os
import stat
from contextlib import contextmanager

import pytest

from naomi_nb import files
from naomi_nb.config import TrainConfig


@contextmanager
def umask(value):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("value", [0o022, 0o077, 0o002])
def test_umask_is_read_without_changing_it(value):
    with umask(value):
        assert files.umask() == value
        assert files.umask() == value  # reading twice leaves it as it was
        assert files.file_mode() == 0o666 & ~value


@pytest.mark.parametrize("value, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask_also_over_an_older_file(tmp_path, value, expected):
    path = tmp_path / "f.json"
    path.write_text("{}")
    path.chmod(0o600)
    with umask(value):
        files.atomic_write_json(path, {"a": 1})
        files.atomic_write_bytes(tmp_path / "g.bin", b"x")
    assert mode(path) == expected and mode(tmp_path / "g.bin") == expected
    assert files.read_json(path, ValueError) == {"a": 1}


@pytest.mark.slow
@pytest.mark.parametrize("value, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_a_runs_files_follow_the_umask(tmp_path, tiny, value, file_mode, dir_mode):
    from naomi_nb.trainer import train

    cfg = TrainConfig(training_data=str(tiny), output_dir=str(tmp_path / "run"), epochs=2, batch_size=64,
                      embedding_dim=4, dynamic_dims=False, analyze=True, checkpoint_seconds=0.0, device="cpu")
    with umask(value):
        result = train(cfg)
        from naomi_nb.report import analyze_result

        analyze_result(result, log=lambda *a: None)
    written = sorted(result.run_dir.rglob("*"))
    assert any(p.suffix == ".pt" for p in written) and any(p.suffix == ".png" for p in written)
    wrong = {str(p.relative_to(result.run_dir)): oct(mode(p)) for p in written
             if mode(p) != (dir_mode if p.is_dir() else file_mode)}
    assert not wrong

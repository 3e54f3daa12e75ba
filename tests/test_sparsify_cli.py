"""``python -m naomi_nb sparsify RUN``: a stage applied to a finished run, written as a new run directory;
everything checked, in one line, before anything is written."""
import json

import numpy as np
import pytest

from naomi_nb import rundir
from naomi_nb.__main__ import main

FAST = ["--sparse-code-dims", "16", "--sparse-code-epochs", "2", "--sparse-code-batch-size", "16",
        "--sparse-code-lr", "0.01"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trained run on the tiny graph (no stage), shared by the tests, which never write into it."""
    from naomi_nb.graph import tiny_graph

    root = tmp_path_factory.mktemp("sparsify")
    tiny_graph().save(root / "tiny")
    assert main(["train", "--training-data", str(root / "tiny"), "--output-dir", str(root / "run"), "--epochs", "3",
                 "--embedding-dim", "6", "--batch-size", "64", "--device", "cpu", "--no-analyze"]) == 0
    return root / "run"


@pytest.mark.slow
def test_sparsify_writes_a_new_analysed_run_from_the_trained_vectors(source, tmp_path, capsys):
    out = tmp_path / "code"
    assert main(["sparsify", str(source), *FAST, "--output-dir", str(out)]) == 0
    said = capsys.readouterr().out
    assert "sparse code epoch 2/2" in said and f"wrote {out}" in said
    config = json.loads((out / "config.json").read_text())
    assert config["stage"] == "sparse-code" and config["sparse_code_dims"] == 16
    assert config["training_data"] == json.loads((source / "config.json").read_text())["training_data"]
    assert (out / "graph.json").read_bytes() == (source / "graph.json").read_bytes()
    run = rundir.load_run(out)
    assert run.embeddings.shape == (37, 16) and run.embeddings.min() >= 0 and run.embeddings.max() <= 1
    assert run.vocab.id_to_word == rundir.load_run(source).vocab.id_to_word
    assert run.metrics["stage"]["source_run"] == str(source.resolve()) and run.metrics["final_dims"] == 16
    assert len(run.history) == 3  # the source's training
    report = json.loads((out / "report.json").read_text())
    assert report["n_dims"] == 16
    assert not (out / "checkpoints" / "best.pt").exists()  # it trains no further: its source does


def test_the_default_output_is_beside_the_run_and_never_an_existing_run(source, tmp_path):
    from naomi_nb.stages.sparsify import default_output_dir

    run = tmp_path / "r"
    assert default_output_dir(run, "sparse-code") == tmp_path / "r-sparse-code"
    (tmp_path / "r-sparse-code").mkdir()
    (tmp_path / "r-sparse-code" / "config.json").write_text("{}")
    assert default_output_dir(run, "sparse-code") == tmp_path / "r-sparse-code-2"


@pytest.mark.parametrize("args, message", [
    (["--sparse-code-dims", "1"], r"--sparse-code-dims must be in [2, 1000000] (got 1)"),
    (["--sparse-code-activation", "1.5"], "--sparse-code-activation must be in (0, 1)"),
    (["--stage", "none"], "--stage none keeps the vectors as they are"),
    (["--stage", "none", "--sparse-code-dims", "8"], "--sparse-code-dims takes effect only with --stage sparse-code"),
    (["--device", "tpu"], "'tpu' is not a device"),
])
def test_bad_flags_are_one_line_and_write_nothing(source, tmp_path, capsys, args, message):
    out = tmp_path / "code"
    assert main(["sparsify", str(source), *args, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_missing_damaged_or_staged_run_is_one_line_and_writes_nothing(source, tmp_path, capsys):
    out = tmp_path / "code"
    assert main(["sparsify", str(tmp_path / "nope"), "--output-dir", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("config.json", "vocabulary.json", "vocabulary.json.sha256", "metrics.json", "graph.json"):
        (damaged / name).write_bytes((source / name).read_bytes())
    np.save(damaged / "embeddings.npy", np.zeros((37, 6), np.float32))
    (damaged / "embeddings.npy.sha256").write_text("0" * 64 + "  embeddings.npy\n")
    assert main(["sparsify", str(damaged), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is damaged" in err and err.count("\n") == 1
    assert not out.exists()
    made = tmp_path / "made"
    assert main(["sparsify", str(source), *FAST, "--output-dir", str(made), "--no-analyze"]) == 0
    capsys.readouterr()
    assert not (made / "report.json").exists()
    assert main(["sparsify", str(made), *FAST, "--output-dir", str(out)]) == 2  # a code has no trained vectors
    err = capsys.readouterr().err
    assert f"sparsify {source.resolve()} instead" in err and err.count("\n") == 1 and not out.exists()
    assert main(["sparsify", str(source), *FAST, "--output-dir", str(made)]) == 2  # never over a run
    assert "already holds a run" in capsys.readouterr().err

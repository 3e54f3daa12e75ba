"""The TensorBoard callback: the event files, read back with TensorBoard's reader, hold history.jsonl."""
import json

import pytest

from naomi_nb.__main__ import main
from naomi_nb.record import terms_of
from naomi_nb.tensorboard import SCALARS, TensorBoardCallback, describe_event, read_scalars, read_texts


def _history(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def _check_against_history(run, history):
    scalars = read_scalars(run)
    terms = terms_of(history[-1])  # the objective's loss terms and sparsity, each for training and validation
    assert len(terms) >= 2 and terms[-1] == "sparsity"
    expected = {**SCALARS, **{f"{side}_{t}": f"loss/{side}_{t}" for t in terms for side in ("train", "val")}}
    assert set(scalars) == set(expected.values())
    for key, tag in expected.items():
        assert [step for step, _ in scalars[tag]] == [r["epoch"] for r in history], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([float(r[key]) for r in history], rel=1e-6), tag


@pytest.mark.slow
def test_train_tensorboard_writes_every_epoch_of_history(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "6",
                 "--embedding-dim", "4", "--dynamic-dims", "--max-dims", "12", "--expand-interval", "2",
                 "--expand-by", "4", "--batch-size", "64", "--min-batch-size", "8", "--patience", "100",
                 "--sparsity-weight", "0.01", "--no-analyze", "--tensorboard"])
    assert code == 0
    history = _history(run)
    assert len(history) == 6 and list(run.glob("events.out.tfevents.*"))
    _check_against_history(run, history)
    # the events of each epoch, as text, at that epoch
    texts = dict(read_texts(run))
    expected = {r["epoch"]: "  \n".join(describe_event(e) for e in r["events"]) for r in history if r["events"]}
    assert any(e["type"] == "expand" for r in history for e in r["events"])  # else this checks too little
    assert texts == expected
    assert any(t.startswith("expand: 4 -> 8 dims") for t in texts.values())
    config = dict(read_texts(run, "config"))
    assert "\n    lr = 0.01\n" in config[0] and "\n    analyze = False" in config[0]


def test_resume_appends_and_an_interruption_is_an_event(tiny, tmp_path):
    from naomi_nb.config import TrainConfig
    from naomi_nb.trainer import train

    cfg = TrainConfig(training_data=str(tiny), output_dir=str(tmp_path / "r"), epochs=5, batch_size=64,
                      embedding_dim=4, analyze=False, patience=100, checkpoint_seconds=0.0)
    stop = __import__("threading").Event()

    def stop_after_two(record):
        if record.get("epoch") == 2:
            stop.set()

    tb = TensorBoardCallback(cfg.output_dir)
    result = train(cfg, callbacks=[tb, stop_after_two], stop_event=stop)
    tb.close()
    assert result.metrics["stopped"] == "interrupted"
    assert dict(read_texts(cfg.output_dir))[2].startswith("interrupted during epoch 3 (2 epochs complete)")
    tb = TensorBoardCallback(cfg.output_dir)
    train(cfg, callbacks=[tb], resume=cfg.output_dir)
    tb.close()
    history = _history(tmp_path / "r")
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    _check_against_history(tmp_path / "r", history)

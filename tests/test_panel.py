"""naomi_nb.panel: the control panel's sliders, presets and buttons (scripted trainers, and one real run)."""
import threading

import pytest
from helpers import FakeHandle, fake_trainer

from naomi_nb.config import PRESETS, ConfigError, TrainConfig
from naomi_nb.panel import control_panel


def test_panel_on_a_cpu_offers_scaled_presets():
    panel = control_panel(TrainConfig(device="cpu"))
    assert ("aggressive (scaled down)", "aggressive") in panel.preset.options
    panel.preset.value = "aggressive"
    assert panel.widgets["embedding_dim"].value == PRESETS["aggressive"]["embedding_dim"] // 4
    assert panel.widgets["epochs"].value <= 60


def test_untouched_panel_gives_back_its_config():
    cfg = TrainConfig(lr=0.003, min_delta=0.0, batch_size=100000, epochs=1000, embedding_dim=12, output_dir="r")
    panel = control_panel(cfg, presets=PRESETS)
    assert panel.config() == cfg.validate()
    assert panel.error is None and not panel.train_button.disabled


def test_panel_values_become_a_valid_config():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.widgets["patience"].value = 3
    panel.widgets["batch_size"].value = 1 << 16
    panel.widgets["lr"].value = 0.001
    panel.widgets["dynamic_dims"].value = True
    panel.widgets["expand_by"].value = 32
    cfg = panel.config()
    assert (cfg.patience, cfg.batch_size, cfg.lr, cfg.dynamic_dims, cfg.expand_by) == (3, 65536, 0.001, True, 32)
    assert isinstance(cfg, TrainConfig)
    # the batch slider runs over powers of two from 256 (the mammal graph on a CPU) to 1M
    assert [v for _, v in panel.widgets["batch_size"].options] == [1 << k for k in range(8, 21)]
    for name in ("sparsity_mode", "proximal_strength", "sparsity_weight", "seed", "device"):
        assert name in panel.widgets
    assert panel.widgets["proximal_strength"].disabled and not panel.widgets["sparsity_weight"].disabled
    panel.widgets["sparsity_mode"].value = "proximal"
    panel.widgets["proximal_strength"].value = 0.05
    panel.widgets["seed"].value = 7
    assert not panel.widgets["proximal_strength"].disabled and panel.widgets["sparsity_weight"].disabled
    cfg = panel.config()
    assert (cfg.sparsity_mode, cfg.proximal_strength, cfg.seed) == ("proximal", 0.05, 7)
    assert "proximal 0.05" in panel.status.value and "seed 7" in panel.status.value


def test_preset_menu_moves_the_sliders_and_resets_to_custom():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.preset.value = "aggressive"
    assert {k: panel.widgets[k].value for k in PRESETS["aggressive"]} == PRESETS["aggressive"]
    panel.preset.value = "fixed"
    assert panel.widgets["embedding_dim"].value == 512 and panel.widgets["dynamic_dims"].value is False
    assert panel.widgets["expand_by"].disabled  # expansion sliders are off without dynamic dims
    panel.widgets["patience"].value = 2  # the sliders no longer show the preset
    assert panel.preset.value == ""
    assert panel.config().patience == 2 and panel.config().embedding_dim == 512


def test_invalid_combination_shows_one_line_error():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.widgets["dynamic_dims"].value = True
    panel.widgets["embedding_dim"].value = 256
    panel.widgets["max_dims"].value = 128
    assert panel.error == "--embedding-dim (256) is above --max-dims (128)"
    assert "above --max-dims" in panel.status.value and panel.train_button.disabled
    with pytest.raises(ConfigError):
        panel.config()
    panel.widgets["max_dims"].value = 512
    assert panel.error is None and not panel.train_button.disabled


def test_train_and_stop_buttons_run_on_a_thread(tmp_path):
    seen = {}
    started = threading.Event()
    fake_train = fake_trainer(seen, started)
    panel = control_panel(TrainConfig(epochs=50, output_dir=str(tmp_path / "run"), analyze=False), presets=PRESETS,
                          train_fn=fake_train)
    panel.handle = FakeHandle()  # what displaying the panel creates
    panel.train_button.click()
    assert started.wait(10) and panel.running and panel.train_button.disabled
    panel.stop_button.click()
    panel.join(10)
    assert not panel.running and panel.exception is None
    assert panel.result.stopped < 50 and seen["cfg"].epochs == 50
    assert panel.handle.updates and panel.dashboard.history
    assert "stopped, run saved and resumable" in panel.status.value and not panel.train_button.disabled
    assert (tmp_path / "run" / "dashboard.png").read_bytes()[:4] == b"\x89PNG"  # written after a button run too
    assert callable(seen["kwargs"]["progress"]) and panel.progress_bar.value == 1.0


def test_train_thread_failure_is_shown_not_lost():
    def broken(cfg, graph=None, callbacks=(), stop_event=None, **kwargs):
        raise RuntimeError("graph directory missing\nsecond line")

    panel = control_panel(TrainConfig(), presets=PRESETS, train_fn=broken)
    panel.start()
    panel.join(10)
    assert isinstance(panel.exception, RuntimeError)
    assert "graph directory missing" in panel.status.value and "second line" not in panel.status.value


def test_stop_button_ends_a_real_run_cleanly(tmp_path):
    """Train / Stop on the background thread with the real trainer: Stop mid-run leaves a finished run dir."""
    import time

    from naomi_nb.graph import tiny_graph

    cfg = TrainConfig(output_dir=str(tmp_path / "run"), epochs=100000, batch_size=16, min_batch_size=8,
                      embedding_dim=4, patience=100000, analyze=False, checkpoint_seconds=0.0)
    panel = control_panel(cfg, graph=tiny_graph(), headless=True)
    panel.start()
    deadline = time.time() + 15 * 60  # a bound for hangs
    while not (tmp_path / "run" / "history.jsonl").exists() or not (tmp_path / "run" / "history.jsonl").read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    panel.stop()
    panel.join(15 * 60)
    assert not panel.running and panel.exception is None
    assert panel.result.metrics["stopped"] == "interrupted"
    for name in ("embeddings.npy", "metrics.json", "checkpoints/last.pt", "checkpoints/final.pt"):
        assert (tmp_path / "run" / name).exists(), name
    assert panel.status.value.startswith("stopped, run saved and resumable: ")

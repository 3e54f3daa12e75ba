"""The control panel headless: widgets driven from Python, a scripted trainer, no kernel."""
import threading

import pytest

from naomi_nb.config import PRESETS, ConfigError, TrainConfig
from naomi_nb.panel import control_panel, panel_words


def test_preset_menu_names_the_preset_the_values_equal():
    panel = control_panel(TrainConfig(**PRESETS["conservative"]), presets=PRESETS)
    assert panel.preset.value == "conservative"  # not "(custom)"
    for name in ("expand_interval", "expand_by", "patience"):
        panel.widgets[name].value = PRESETS["aggressive"][name]
    assert panel.preset.value == "aggressive"  # moved by hand onto another preset's values
    panel.widgets["patience"].value = 7
    assert panel.preset.value == ""
    panel.widgets["patience"].value = PRESETS["aggressive"]["patience"]
    assert panel.preset.value == "aggressive"


def test_invalid_setting_is_said_in_the_panels_labels():
    assert panel_words("--embedding-dim (256) is above --max-dims (128)") == \
        "embedding dim (256) is above max dims (128)"
    assert panel_words("--[no-]dynamic-dims needs --expand-by") == "dynamic dims needs expand by"
    assert panel_words("--min-batch-size must be ...") == "--min-batch-size must be ..."  # no widget: the flag
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.widgets["dynamic_dims"].value = True
    panel.widgets["embedding_dim"].value = 256
    panel.widgets["max_dims"].value = 128
    assert "--" not in panel.status.value and "max dims" in panel.status.value
    with pytest.raises(ConfigError, match="above max dims"):
        panel.config()

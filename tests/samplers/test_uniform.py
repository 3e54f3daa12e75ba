"""The uniform sampler (naomi_nb/samplers/uniform.py), and what every sampler shares: found by name,
repeatable from the run's generator."""
import types

import numpy as np
import pytest
import torch

from naomi_nb import components
from naomi_nb.samplers import Sampler


def fake_graph(src, dst, V):
    return types.SimpleNamespace(vocab=types.SimpleNamespace(size=V), src=np.asarray(src), dst=np.asarray(dst))


def test_samplers_are_found_by_name():
    assert {"uniform", "batch", "degree"} <= set(components.names("sampler"))
    assert components.get("sampler", "batch").gathers is False and components.get("sampler", "uniform").gathers
    with pytest.raises(ValueError, match="unknown negative sampler"):
        components.get("sampler", "nope")


def test_a_new_sampler_registers_itself():
    class Every(Sampler):
        name = "test-every-third"

        def draw(self, n):
            return torch.arange(n, device=self.device) * 3 % self.V

    components.register("sampler")(Every)
    try:
        s = components.get("sampler", "test-every-third")(fake_graph([0], [1], 7), np.arange(1), torch.device("cpu"))
        assert s.draw(4).tolist() == [0, 3, 6, 2]
    finally:
        components._TABLES["sampler"].pop("test-every-third")


def test_draws_repeat_from_the_runs_generator():
    Uniform = components.get("sampler", "uniform")
    g = fake_graph([0, 1], [2, 3], 50)
    a = Uniform(g, np.arange(2), torch.device("cpu"))
    b = Uniform(g, np.arange(2), torch.device("cpu"))
    a.reseed(torch.Generator().manual_seed(5))
    b.reseed(torch.Generator().manual_seed(5))
    assert torch.equal(a.draw(100), b.draw(100)) and int(a.draw(1000).max()) < 50

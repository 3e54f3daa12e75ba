"""Negative samplers: found by name, repeatable from the run's generator, and the degree sampler's law."""
import types

import numpy as np
import pytest
import torch

from naomi_nb import samplers


def fake_graph(src, dst, V):
    return types.SimpleNamespace(vocab=types.SimpleNamespace(size=V), src=np.asarray(src), dst=np.asarray(dst))


def test_samplers_are_found_by_name():
    assert {"uniform", "batch", "degree"} <= set(samplers.SAMPLERS)
    assert samplers.get("batch").gathers is False and samplers.get("uniform").gathers
    with pytest.raises(ValueError, match="unknown negative sampler"):
        samplers.get("nope")


def test_a_new_sampler_registers_itself():
    class Every(samplers.Sampler):
        name = "test-every-third"

        def draw(self, n):
            return torch.arange(n, device=self.device) * 3 % self.V

    try:
        s = samplers.get("test-every-third")(fake_graph([0], [1], 7), np.arange(1), torch.device("cpu"))
        assert s.draw(4).tolist() == [0, 3, 6, 2]
    finally:
        samplers.SAMPLERS.pop("test-every-third")


def test_draws_repeat_from_the_runs_generator():
    g = fake_graph([0, 1], [2, 3], 50)
    a = samplers.UniformSampler(g, np.arange(2), torch.device("cpu"))
    b = samplers.UniformSampler(g, np.arange(2), torch.device("cpu"))
    a.reseed(torch.Generator().manual_seed(5))
    b.reseed(torch.Generator().manual_seed(5))
    assert torch.equal(a.draw(100), b.draw(100)) and int(a.draw(1000).max()) < 50


def test_degree_sampler_follows_degree():
    # sense 3 is an end of 1000 training edges, senses 0-2 of one each
    src = [0, 1, 2] + [3] * 1000
    dst = [3, 3, 3] + [0] * 0 + [3] * 0 + list(np.arange(1000) % 3)
    g = fake_graph(src, dst, 4)
    s = samplers.DegreeSampler(g, np.arange(len(src)), torch.device("cpu"))
    deg = np.bincount(src, minlength=4) + np.bincount(dst, minlength=4)
    s.reseed(torch.Generator().manual_seed(0))
    draws = s.draw(20000)
    w = deg ** 0.75
    assert float((draws == 3).double().mean()) == pytest.approx(w[3] / w.sum(), abs=0.02)

"""The degree sampler (naomi_nb/samplers/degree.py): senses in proportion to degree^0.75."""
import types

import numpy as np
import pytest
import torch

from naomi_nb import components


def fake_graph(src, dst, V):
    return types.SimpleNamespace(vocab=types.SimpleNamespace(size=V), src=np.asarray(src), dst=np.asarray(dst))


def test_degree_sampler_follows_degree():
    # sense 3 is an end of 1000 training edges, senses 0-2 of one each
    src = [0, 1, 2] + [3] * 1000
    dst = [3, 3, 3] + [0] * 0 + [3] * 0 + list(np.arange(1000) % 3)
    g = fake_graph(src, dst, 4)
    s = components.get("sampler", "degree")(g, np.arange(len(src)), torch.device("cpu"))
    deg = np.bincount(src, minlength=4) + np.bincount(dst, minlength=4)
    s.reseed(torch.Generator().manual_seed(0))
    draws = s.draw(20000)
    w = deg ** 0.75
    assert float((draws == 3).double().mean()) == pytest.approx(w[3] / w.sum(), abs=0.02)

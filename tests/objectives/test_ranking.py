"""The ranking objective, the plain-PyTorch example: its knob, its draws, whole runs with it (terms logged,
repeatable, resumable) and its loss falling on the mammal subgraph. Its gradient against the same loss
written on the whole matrix is in test_plain.py (the kit's step)."""
import threading
import types

import numpy as np
import pytest
import torch

from naomi_nb import components
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet
from naomi_nb.errors import ConfigError
from naomi_nb.graph import load_graph, tiny_graph
from naomi_nb.objectives.ranking import Ranking

CPU = torch.device("cpu")


def test_ranking_declares_its_margin_and_draws_one_negative_per_edge_never_an_end():
    assert components.get("objective", "ranking") is Ranking
    assert TrainConfig(objective="ranking").ranking_margin == 0.5
    with pytest.raises(ConfigError, match="--ranking-margin must be > 0"):
        TrainConfig(objective="ranking", ranking_margin=0.0)
    graph = tiny_graph()
    idx = np.arange(graph.n_edges)
    rank = Ranking(types.SimpleNamespace(seed=0, ranking_margin=0.5), graph, idx, EdgeSet(graph, idx, CPU), CPU)
    s, d = torch.arange(37).repeat(20), torch.arange(37).roll(1).repeat(20)
    rank.start_epoch(torch.Generator().manual_seed(0))
    (n,) = rank.draw(s, d, rank.gen).values()
    assert n.shape == s.shape and not ((n == s) | (n == d)).any() and len(n.unique()) > 30


def cfg_for(tmp_path, name, **kw):
    base = dict(output_dir=str(tmp_path / name), epochs=12, batch_size=64, embedding_dim=8, analyze=False,
                patience=100, checkpoint_seconds=1e9, device="cpu", lr=0.02, objective="ranking")
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
def test_ranking_trains_logs_its_terms_and_repeats_and_resumes_exactly(tmp_path):
    graph = tiny_graph()
    a = T.train(cfg_for(tmp_path, "a"), graph=graph)
    b = T.train(cfg_for(tmp_path, "b"), graph=graph)
    assert np.array_equal(a.embeddings, b.embeddings)
    h = a.history
    assert h[0]["terms"] == ["distance", "ranking", "sparsity"]
    assert h[-1]["val_total"] < 0.9 * h[0]["val_total"] and h[-1]["val_ranking"] < 0.9 * h[0]["val_ranking"]
    assert h[0]["train_total"] == pytest.approx(h[0]["train_distance"] + h[0]["train_ranking"]
                                                + h[0]["train_sparsity"])
    stop = threading.Event()
    part = T.train(cfg_for(tmp_path, "c"), graph=graph, stop_event=stop,
                   callbacks=[lambda r: r.get("kind") == "epoch" and r.get("epoch") == 5 and stop.set()])
    assert len(part.history) == 5
    resumed = T.train(cfg_for(tmp_path, "x"), graph=graph, resume=part.run_dir)
    assert [r["train_total"] for r in resumed.history] == [r["train_total"] for r in h]
    assert np.array_equal(resumed.embeddings, a.embeddings)


def test_ranking_trains_on_the_mammal_subgraph(mammals_dir, tmp_path):
    graph = load_graph(mammals_dir)
    result = T.train(cfg_for(tmp_path, "m", epochs=6, batch_size=4096, embedding_dim=16), graph=graph)
    h = result.history
    assert h[-1]["val_total"] < 0.7 * h[0]["val_total"] and h[-1]["train_total"] < 0.7 * h[0]["train_total"]
    assert h[-1]["val_ranking"] < 0.5 * h[0]["val_ranking"]

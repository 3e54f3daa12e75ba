"""The free geometry (naomi_nb/geometries/free.py): every vector is its own row, the objective unwrapped."""
import numpy as np
import torch

from naomi_nb import components
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet
from naomi_nb.graph import tiny_graph

CPU = torch.device("cpu")


def test_free_leaves_the_objective_and_its_rows_as_they_are():
    graph = tiny_graph()
    cfg = TrainConfig(device="cpu", objective="seed")
    idx = np.arange(graph.n_edges)
    objective = components.get("objective", "seed")(cfg, graph, idx, EdgeSet(graph, idx, CPU), CPU)
    free = components.get("geometry", "free")(cfg, graph, idx, CPU)
    assert free.wrap(objective) is objective
    W = torch.randn(graph.vocab.size, 3)
    assert objective.vectors(W) is W
    assert TrainConfig().geometry == "free" and components.names("geometry")[0] == "free"

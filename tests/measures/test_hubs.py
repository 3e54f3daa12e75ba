"""The hubs measure: senses at the top of many poles; a long vector is a hub in any basis."""
import numpy as np

from naomi_nb.measuring import Context, run_measures
from naomi_nb.graph import Vocabulary
from naomi_nb.measures import measure_lines
from naomi_nb.measures.hubs import K, hubs


def test_a_long_vector_tops_every_pole_and_stays_a_hub_under_rotation(planted):
    graph, emb, _ = planted
    emb = emb.copy()
    emb[7] = [5.0, -5.0, 5.0, -5.0, 5.0, -5.0]  # one long vector: at the top of one pole of every dimension
    ctx = Context(emb, graph.vocab, graph, k=5, wordnet=None)
    m = run_measures(ctx, names=("hubs",))["hubs"]
    out = m["result"]
    assert out["k"] == K and out["n_poles"] == 12 and out["over"] == "frequent senses"
    assert out["top"][0] == (graph.vocab.id_to_word[7], 6) and out["top_share"] == 0.5
    rotated = ctx.rotated().result("hubs")
    assert dict(rotated["top"])[graph.vocab.id_to_word[7]] >= 5  # still a hub: its length survives the rotation
    assert set(m["rotation"]) == {"distinct"}
    (line,) = measure_lines("hubs", hubs, {**out, "rotation": m["rotation"]})
    assert line.startswith(f"hubs (top 5 senses of 12 poles, frequent senses): {graph.vocab.id_to_word[7]} tops 6 "
                           "(50.0%); next ")
    assert "distinct senses per slot" in line and "(rotated " in line
    one_hot = np.eye(6, dtype=np.float32)[[0, 1, 2, 3, 4, 5] * 4]  # every pole: 4 senses, each sense one pole
    none = hubs(Context(one_hot, Vocabulary([f"w{i}" for i in range(24)]), wordnet=None, k=5))
    assert measure_lines("hubs", hubs, none) == ["hubs (top 5 senses of 6 poles, all senses): no sense tops two poles"]

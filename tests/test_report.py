"""naomi_nb.report: the texts a notebook shows of a run."""


def test_neighbors_and_axes_among_frequent_senses_and_short_run_note():
    import numpy as np

    from naomi_nb import report
    from naomi_nb.graph import Vocabulary

    vocab = Vocabulary(["dog.n.01.dog", "cur.n.01.cur", "cat.n.01.cat", "tom.n.01.tom"], count=[5, 0, 3, 0])
    emb = np.array([[0.0, 1.0], [0.0, 0.9], [0.5, -1.0], [0.0, 0.95]], dtype=np.float32)
    text = report.neighbors_text(emb, vocab, "dog.n.01.dog", k=1, among=np.array([0, 2]))
    assert text.splitlines() == ["dog.n.01.dog", f"    {np.hypot(0.5, 2.0):7.4f}  cat.n.01.cat"]
    assert "tom.n.01.tom" in report.neighbors_text(emb, vocab, "dog.n.01.dog", k=1)  # all senses: the nearest
    axis = report.axis_text(emb, vocab, 1, k=1, among=np.array([0, 2]))
    assert "among 2 frequent senses" in axis and "dog.n.01.dog" in axis and "tom" not in axis
    assert "mostly noise" in report.run_note([{"epoch": 1}], {"stopped": "interrupted"})
    assert report.run_note([{"epoch": e} for e in range(1, 6)], {}) is None

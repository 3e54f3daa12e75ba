"""Shared test material: scripted trainer records and run directories (no model), a small graph with
planted structure and its embeddings."""
import json
from pathlib import Path

import numpy as np

from naomi_nb.config import TrainConfig
from naomi_nb.graph import Graph, Vocabulary

GROUPS, SIZE, PLANTED = 8, 5, 3  # 8 groups of 5 senses; dimension 3 carries the antonym axis


def scripted_history(epochs=6, planned=100, stop_at=6):
    """Records shaped like the trainer's: expansions after epochs 2 and 4, early stop at `stop_at`."""
    history, dims, batch = [], 128, 1048576
    for e in range(1, epochs + 1):
        events, dims_before, batch_before = [], dims, batch
        if e in (2, 4):
            events.append({"type": "expand", "old_dims": dims, "new_dims": dims + 64, "stats": {}})
            dims += 64
            batch = int(1048576 * 128 / dims)
            events.append({"type": "batch", "batch_size": batch, "dims": dims, "reason": "expand"})
            events.append({"type": "optimizer", "mode": "carry"})
        val = 0.02 / e if e <= 4 else 0.005 + 0.0001 * e
        if e == stop_at:
            events.append({"type": "early_stop", "best_val": 0.005, "best_epoch": 4, "patience": 2})
        history.append(dict(
            kind="epoch", epoch=e, epochs=planned, dims_before=dims_before, batch_before=batch_before, train_total=0.03 / e, train_distance=0.029 / e, train_sparsity=1e-4,
            val_total=val, val_distance=val - 1e-4, val_sparsity=1e-4, sparsity_pct=45.0 + 3 * e,
            zeros_pct=10.0 * e, active_per_word=dims * 0.5, dims=dims, batch_size=batch, lr=0.01, seconds=2.0,
            edges_per_s=600000.0, best=e <= 4, best_val=min(0.02 / min(e, 4), 0.005), best_epoch=min(e, 4),
            bad_epochs=max(0, e - 4), events=events))
    return history


def by_gid(ax, gid):
    return [a for a in ax.lines if a.get_gid() == gid]


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


def write_run(path, history, metrics, cfg=None):
    path.mkdir(parents=True)
    (path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    (path / "metrics.json").write_text(json.dumps(metrics))
    (cfg or TrainConfig()).save(path / "config.json")
    return path


class FakeResult:
    def __init__(self, run_dir, history, stopped):
        self.run_dir, self.history, self.config = Path(run_dir), history, None
        self.metrics = {"stopped": stopped, "best_epoch": 1}
        self.stopped = history[-1]["epoch"] if history else 0


def fake_trainer(seen, started, epochs=50):
    """A stand-in for train(): scripted records until stop_event is set."""
    def fake_train(cfg, graph=None, callbacks=(), stop_event=None, **kwargs):
        seen["cfg"], seen["kwargs"] = cfg, kwargs
        history = []
        for rec in scripted_history(epochs=epochs, planned=epochs, stop_at=None):
            history.append(rec)
            for cb in callbacks:
                cb(rec)
            started.set()
            if stop_event.wait(0.01):
                return FakeResult(cfg.output_dir, history, "interrupted")
        raise AssertionError("Stop was never seen")
    return fake_train


def planted_graph() -> Graph:
    """8 groups of 5 adjective senses (lexname lex<g>) under one root; group 0 and 1 are antonyms member for member."""
    words, synsets, lexnames = [], [], []
    for g in range(GROUPS):
        for m in range(SIZE):
            synset = f"w{g}x{m}.a.01"
            words.append(f"{synset}.w{g}x{m}")
            synsets.append(synset)
            lexnames.append(f"lex{g}")
    root = len(words)
    words.append("root.n.01.root")
    synsets.append("root.n.01")
    lexnames.append("noun.Tops")
    edges = []  # (src, rel, dst); rel 0 synonym, 1 hypernym, 2 antonym
    for g in range(GROUPS):
        for m in range(SIZE - 1):
            a, b = g * SIZE + m, g * SIZE + m + 1
            edges += [(a, 0, b), (b, 0, a)]
        edges += [(g * SIZE + m, 1, root) for m in range(SIZE)]
    for m in range(SIZE):
        a, b = m, SIZE + m
        edges += [(a, 2, b), (b, 2, a)]
    e = np.array(edges)
    return Graph(e[:, 0].astype(np.int32), e[:, 2].astype(np.int32), e[:, 1].astype(np.int16),
                 np.ones(len(e), np.float32), ["synonym", "hypernym", "antonym"],
                 np.array([0.1, 0.3, 1.0], np.float32), Vocabulary(words, synset=synsets, lexname=lexnames))


def planted_embeddings(n: int, dims: int = 6, seed: int = 0) -> np.ndarray:
    """Small noise everywhere; on dimension PLANTED group 0 sits at +1 and group 1 at -1."""
    emb = np.random.default_rng(seed).normal(0, 0.05, (n, dims)).astype(np.float32)
    emb[0:SIZE, PLANTED] += 1.0
    emb[SIZE:2 * SIZE, PLANTED] -= 1.0
    return emb


def cfg_for(tmp_path, name="run", **kw):
    """A small CPU run of the seed's objective on the tiny graph, with ``kw`` on top."""
    base = dict(output_dir=str(tmp_path / name), epochs=4, batch_size=64, min_batch_size=8, embedding_dim=4,
                max_dims=12, expand_interval=2, expand_by=4, dynamic_dims=True, analyze=False, patience=100,
                checkpoint_seconds=0.0, sparsity_weight=0.01, objective="seed", device="cpu")  # GPU tests: test_reliability.py
    base.update(kw)
    return TrainConfig(**base)

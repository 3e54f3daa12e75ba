"""The names of a run directory's files: one owner for every module that writes or reads them.

What each file holds, and how it is written and checked, is `naomi_nb.rundir`'s story; `naomi_nb.history`
owns history.jsonl. This module is the bottom floor: it imports nothing of the package, so the run
directory, the history, the trainer and the readers of a finished run all take the names from here.
"""
from __future__ import annotations

CONFIG = "config.json"  # the resolved TrainConfig, written when the run starts
GRAPH_INFO = "graph.json"  # the training graph's fingerprint, checked on every resume
LOCK = ".lock"  # held by the process training in the directory
HISTORY = "history.jsonl"  # one epoch record per line
METRICS = "metrics.json"  # the run's headline figures
REPORT, SUMMARY = "report.json", "summary.txt"  # the analysis, and its summary as text
EMBEDDINGS = "embeddings.npy"  # the returned model (float32, senses x dims)
EMBEDDINGS_CSR = "embeddings_csr.npz"  # the same, sparse, when at least 3/4 zeros
CHECKSUM_SUFFIX = ".sha256"  # embeddings.npy.sha256: its checksum, in sha256sum's format
VOCABULARY = "vocabulary.json"  # the graph's vocabulary and the embedding's widths
CHECKPOINTS = "checkpoints"  # the folder of LAST and BEST
LAST, BEST = "last.pt", "best.pt"  # everything to continue exactly; the best epoch so far
FINAL = "final.pt"  # written by older versions: a copy of embeddings.npy, removed when such a run finishes again
FIGURES, DASHBOARD = "figures", "dashboard.png"  # the analysis's figures; loss, sparsity and width per epoch
NOTEBOOK_METRICS = "notebook_metrics.json"  # written by the notebooks

__all__ = ["BEST", "CHECKPOINTS", "CHECKSUM_SUFFIX", "CONFIG", "DASHBOARD", "EMBEDDINGS", "EMBEDDINGS_CSR", "FIGURES",
           "FINAL", "GRAPH_INFO", "HISTORY", "LAST", "LOCK", "METRICS", "NOTEBOOK_METRICS", "REPORT", "SUMMARY",
           "VOCABULARY"]

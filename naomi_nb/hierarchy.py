"""The hierarchy of the graph: its relation names and the (sense, ancestor) pairs built from its edges.

The graph stores each hypernym link in one or both directions: ``hypernym`` and ``instance_hypernym`` edges go
from a sense up to its hypernym (`UP`), ``hyponym`` and ``instance_hyponym`` edges go down (`DOWN`).
`hierarchy_pairs` reads both as (hyponym, hypernym) pairs and `ancestor_pairs` joins those pairs into
ancestors further up. The objectives that train on the hierarchy, the geometries built from it and the
measures of it all read these, so a relation is named in one place.

Only numpy and scipy: nothing of the package.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

UP = ("hypernym", "instance_hypernym")  # source below destination
DOWN = ("hyponym", "instance_hyponym")  # source above destination
RELATIONS = ("hypernym", "hyponym", "instance_hypernym", "instance_hyponym")  # every hierarchy edge, both ways
MAX_LINKS = 30  # deeper than WordNet's deepest hypernym chain (19 links)


def hierarchy_pairs(graph, index: np.ndarray) -> np.ndarray:
    """Unique (hyponym, hypernym) sense pairs of the edges ``index``, as an (N, 2) int64 array."""
    rel = graph.rel[index]
    up = np.isin(rel, [graph.relations.index(r) for r in UP if r in graph.relations])
    down = np.isin(rel, [graph.relations.index(r) for r in DOWN if r in graph.relations])
    src, dst = graph.src[index].astype(np.int64), graph.dst[index].astype(np.int64)
    child = np.concatenate([src[up], dst[down]])
    parent = np.concatenate([dst[up], src[down]])
    key = np.unique(child * graph.vocab.size + parent)
    return np.stack([key // graph.vocab.size, key % graph.vocab.size], axis=1)


def ancestor_pairs(pairs: np.ndarray, n: int, max_hops: int) -> tuple[np.ndarray, np.ndarray]:
    """(sense, ancestor) pairs 2 .. ``max_hops`` links up from (hyponym, hypernym) ``pairs`` over ``n``
    senses: an (N, 2) int64 array and the (N,) link counts, each pair once at its shortest count."""
    up = sp.csr_matrix((np.ones(len(pairs), np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    seen = up.copy()
    seen.data[:] = 1
    reach, out, hops = up, [], []
    for h in range(2, max_hops + 1):
        reach = (reach @ up).tocsr()
        reach.data[:] = 1
        new = reach - reach.multiply(seen)  # reachable now, not in fewer links
        new.eliminate_zeros()
        new.setdiag(0)  # a cycle back to the sense itself
        new.eliminate_zeros()
        coo = new.tocoo()
        out.append(np.stack([coo.row, coo.col], 1).astype(np.int64))
        hops.append(np.full(coo.nnz, h, np.int64))
        seen = (seen + new).tocsr()
        seen.data[:] = 1
    if not out:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    return np.concatenate(out), np.concatenate(hops)


def closure(up: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sense, ancestor) pairs at any number of links from the (hyponym, hypernym) pairs ``up``
    (`hierarchy_pairs`), each once, plus (i, i) for each of the ``n`` senses: the rows and the columns."""
    far, _ = ancestor_pairs(up, n, MAX_LINKS)
    pairs = np.concatenate([np.stack([np.arange(n), np.arange(n)], 1), up, far])
    return pairs[:, 0], pairs[:, 1]


def synset_codes(vocab) -> tuple[np.ndarray, np.ndarray]:
    """The vocabulary's synset names, each once and sorted, and each sense's index into them (a vocabulary
    without synset names: each word its own synset)."""
    names = vocab.synset if vocab.synset is not None else vocab.id_to_word
    return np.unique(np.asarray(names), return_inverse=True)


__all__ = ["DOWN", "MAX_LINKS", "RELATIONS", "UP", "ancestor_pairs", "closure", "hierarchy_pairs", "synset_codes"]

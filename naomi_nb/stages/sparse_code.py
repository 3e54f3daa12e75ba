"""A sparse overcomplete code of the trained vectors (``--stage sparse-code``): SPINE's denoising autoencoder
(Subramanian et al. 2018), after Faruqui et al.'s sparse overcomplete vectors (2015), in plain PyTorch.

Each sense's trained vector x (columns centred, the whole table scaled to unit mean square) is encoded as
h = cap(relu(x W + b)) in ``sparse_code_dims`` dimensions: non-negative, at most 1, and exactly 0 where the
pre-activation is not positive. A linear decoder maps h back to x. The loss, averaged over a minibatch of
senses whose inputs carry Gaussian noise (``sparse_code_noise`` times the unit scale):

  reconstruction  mean squared error of the decoded vector against the clean input;
  activation      SPINE's average sparsity: per code dimension, the batch mean of h above
                  ``sparse_code_activation``, squared, averaged over dimensions (those not tied to a subtree);
  binary          SPINE's partial sparsity: the mean of h (1 - h), which pushes values to 0 or to the cap;
  hubs            the same as activation, per sense: a sense's mean of h above the target, squared, averaged
                  over the batch. A sense active in many dimensions tops many of their poles (SPINE's hub
                  words), so the code spends its activity on a few dimensions per sense.

  inherit         over the run's training hypernym edges, how much of its hypernym's code a hyponym lacks,
                  so that a dimension can stand for a subtree.
  subtrees        the first ``sparse_code_subtrees`` dimensions are named before training: each stands for one
                  subtree of the run's training hypernym edges (the largest that hold at most
                  ``sparse_code_subtree_share`` of the senses). A sense of the subtree is held at
                  ``SUBTREE_FLOOR`` or more there, any other sense at 0 (hinges on the pre-activation, so a
                  sense the cap holds at 0 is still pulled up).

After training, two steps on the code of every sense:

  exact subtrees  (``sparse_code_exact_floor``) each tied dimension holds its subtree's senses only: a sense of
                  the subtree at the floor or at the encoder's value where that is higher, any other sense at 0.
                  The encoder holds the large subtrees loosely (a third of their senses at ``SUBTREE_FLOOR``);
                  made exact, a tied dimension's name never contradicts the senses on it.
  lengths         (``sparse_code_length_power``) each sense's code divided by its length to this power: a sense
                  active on many dimensions no longer sits at the top of them for its length alone (0 keeps the
                  lengths, 1 makes every code unit length).

The defaults are the code measured best against a random rotation on full WordNet (docs/quality.md: unit-length
rows, activation target 0.05, activation and hub weights 30, at most 150 values per sense before the exact step,
inheritance 100, 200 dimensions tied to subtrees of at most 10% of the senses, held with weight 100 and made
exact at 0.6, lengths divided by their square root); SPINE's own is ``--sparse-code-activation 0.15
--sparse-code-sparsity-weight 1 --sparse-code-hub-weight 0 --sparse-code-top-k 0 --no-sparse-code-unit-rows
--sparse-code-inherit-weight 0 --sparse-code-subtrees 0 --sparse-code-length-power 0``.

The code replaces the run's vectors (embeddings.npy); the trained ones stay in checkpoints/best.pt.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..components import knob, register
from . import Stage

ENCODE_ROWS = 16384  # senses encoded at once at the end (the code of the whole table is built on the host)
SUBTREE_FLOOR = 0.5  # a subtree's senses are held at this value or more on its dimension (below the cap of 1, so
# they keep an order there: the senses at a dimension's top are not decided by ties)
NEARLY_ALL = 0.9  # a subtree holding this share of a chosen one's senses, or more, is not chosen too
CAPS = ("clamp", "tanh")


def cap(z: torch.Tensor, how: str) -> torch.Tensor:
    """Non-negative and at most 1: ``clamp`` (SPINE's capped ReLU; values at the cap tie) or ``tanh`` of the
    ReLU (never reaches 1, so the senses at a dimension's top keep an order)."""
    if how == "tanh":
        return torch.tanh(torch.relu(z))
    return z.clamp(0.0, 1.0)


def standardize(x: torch.Tensor, unit_rows: bool = False) -> torch.Tensor:
    """Columns centred, then (``unit_rows``) each row scaled to the same length, the whole table scaled to a
    mean square of 1 (a new tensor)."""
    x = x - x.mean(dim=0, keepdim=True)
    if unit_rows:
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return x / x.pow(2).mean().sqrt().clamp_min(1e-12)


def keep_top(h: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's k largest values, the rest 0 (k >= the width: ``h`` itself)."""
    if k <= 0 or k >= h.shape[1]:
        return h
    idx = h.topk(k, dim=1).indices
    return torch.zeros_like(h).scatter(1, idx, h.gather(1, idx))


class Coder(torch.nn.Module):
    """Encoder and decoder of the code; initialised from ``gen`` as `torch.nn.Linear` would be."""

    def __init__(self, d: int, m: int, gen: torch.Generator, how: str, top_k: int):
        super().__init__()

        def uniform(rows, cols, fan_in):
            return torch.nn.Parameter((torch.rand(rows, cols, generator=gen) * 2 - 1) / math.sqrt(fan_in))

        self.W, self.b = uniform(d, m, d), torch.nn.Parameter(torch.zeros(m))
        self.D, self.c = uniform(m, d, m), torch.nn.Parameter(torch.zeros(d))
        self.how, self.top_k = how, top_k

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return keep_top(cap(x @ self.W + self.b, self.how), self.top_k)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.D + self.c


def code_losses(coder: Coder, x: torch.Tensor, noisy: torch.Tensor, target: float,
                tied: int = 0) -> tuple[torch.Tensor, dict]:
    """The loss terms on one batch: (the code, {term: scalar tensor}). The first ``tied`` dimensions stand for
    subtrees, whose size sets their activity: the activation term holds the others only."""
    h = coder.encode(noisy)
    over_dim = (h[:, tied:].mean(dim=0) - target).clamp_min(0)
    over_sense = (h.mean(dim=1) - target).clamp_min(0)
    return h, {"reconstruction": (coder.decode(h) - x).pow(2).mean(),
               "activation": over_dim.pow(2).mean(),
               "binary": (h * (1 - h)).mean(),
               "hubs": over_sense.pow(2).mean()}


@register("stage")
class SparseCode(Stage):
    """A non-negative, capped, sparse overcomplete code of the trained vectors (SPINE), hub senses held back."""

    name = "sparse-code"
    knobs = {
        "sparse_code_dims": knob(1000, "sparse-code stage: width of the code (overcomplete: several times the "
                                       "trained width)", range="[2, 1000000]", search=(500, 2000)),
        "sparse_code_epochs": knob(15, "sparse-code stage: passes over the senses", range="[1, 10000]",
                                   search=(5, 40)),
        "sparse_code_activation": knob(0.05, "sparse-code stage: the average activation each code dimension (and, "
                                             "with the hub weight, each sense) is held below",
                                       range="(0, 1)", search=(0.02, 0.3, "log")),
        "sparse_code_sparsity_weight": knob(30.0, "sparse-code stage: weight of the average-activation term",
                                            range=">= 0", search=(0.1, 100.0, "log")),
        "sparse_code_binary_weight": knob(1.0, "sparse-code stage: weight of the h(1-h) term that pushes values "
                                               "to 0 or the cap", range=">= 0", search=(0.0, 2.0)),
        "sparse_code_hub_weight": knob(30.0, "sparse-code stage: weight of the per-sense average-activation term "
                                            "(a sense active in many dimensions tops many poles)",
                                       range=">= 0", search=(0.0, 100.0)),
        "sparse_code_top_k": knob(150, "sparse-code stage: each sense keeps only its N largest code values (a "
                                     "k-sparse code: a sense tops at most N poles); 0: no limit",
                                  range=">= 0", search=(0, 300)),
        "sparse_code_cap": knob("clamp", "sparse-code stage: how values are capped at 1: clamp (SPINE) or tanh "
                                         "(never reaches 1, so a dimension's top senses keep an order)",
                                choices=CAPS),
        "sparse_code_unit_rows": knob(True, "sparse-code stage: code each sense's direction only (its centred "
                                             "vector scaled to the same length as every other): long vectors no "
                                             "longer top every dimension they touch"),
        "sparse_code_inherit_weight": knob(100.0, "sparse-code stage: weight of the term that makes a sense active "
                                                "wherever its hypernym is (over the run's training edges only), so "
                                                "that a dimension can stand for a subtree", range=">= 0",
                                           search=(0.0, 300.0)),
        "sparse_code_subtrees": knob(200, "sparse-code stage: the first N code dimensions each stand for one "
                                        "subtree of the run's training hypernym edges, the N largest that hold at "
                                        "most --sparse-code-subtree-share of the senses; 0: none",
                                     range=">= 0", search=(0, 600)),
        "sparse_code_subtree_share": knob(0.1, "sparse-code stage: the largest share of the senses a subtree of "
                                                "--sparse-code-subtrees may hold", range="(0, 1]",
                                          search=(0.01, 1.0, "log")),
        "sparse_code_subtree_weight": knob(100.0, "sparse-code stage: weight of the term that holds a subtree's "
                                                 "senses active on its dimension and every other sense at 0",
                                           range=">= 0", search=(10.0, 300.0, "log")),
        "sparse_code_exact_floor": knob(0.6, "sparse-code stage: after training, each tied dimension holds its "
                                             "subtree's senses only, at this value or the encoder's where higher, "
                                             "every other sense at 0; 0: the code as trained", range="[0, 1]",
                                        search=(0.5, 0.8)),
        "sparse_code_length_power": knob(0.5, "sparse-code stage: after training, each sense's code is divided by "
                                              "its length to this power (0: lengths kept; 1: unit length), so that "
                                              "a long code does not top the dimensions it touches for its length "
                                              "alone", range="[0, 1]", search=(0.0, 1.0)),
        "sparse_code_noise": knob(0.2, "sparse-code stage: standard deviation of the Gaussian noise on the "
                                       "(unit-scaled) inputs: a denoising autoencoder", range=">= 0",
                                  search=(0.0, 0.5)),
        "sparse_code_lr": knob(0.001, "sparse-code stage: Adam learning rate", range="(0, 1]",
                               search=(1e-4, 1e-2, "log")),
        "sparse_code_batch_size": knob(1024, "sparse-code stage: senses per step", range=">= 1",
                                       search=(256, 8192, "log")),
    }

    @property
    def subtree_term(self) -> bool:
        """Whether dimensions are tied to subtrees (a count of them and a weight holding them)."""
        return bool(self.cfg.sparse_code_subtrees and self.cfg.sparse_code_subtree_weight)

    def training_pairs(self, graph, n: int) -> np.ndarray | None:
        """The (hyponym, hypernym) pairs of the run's training edges (its own split: the held-out edges stay
        unseen), for the inheritance and subtree terms; None when neither is on or there is no graph of these
        senses."""
        cfg = self.cfg
        if not (cfg.sparse_code_inherit_weight or self.subtree_term) or graph is None or graph.vocab.size != n:
            return None
        from ..hierarchy import hierarchy_pairs

        return hierarchy_pairs(graph, graph.split(cfg.seed, cfg.val_fraction)[0])

    def subtree_members(self, graph, up: np.ndarray | None, m: int, say) -> torch.Tensor | None:
        """Which senses each tied dimension's subtree holds ((senses, tied) bool, on the host), or None when
        no dimension is tied (the term off, no training pairs ``up``, or no subtree small enough)."""
        cfg = self.cfg
        self.named = {}
        if not self.subtree_term or up is None:
            return None
        roots, members = subtrees(graph.vocab, up, min(cfg.sparse_code_subtrees, m), cfg.sparse_code_subtree_share)
        if not roots:
            say(f"  sparse code: no subtree of the training edges holds 2 to {cfg.sparse_code_subtree_share:.0%} "
                "of the senses: no dimension tied to one")
            return None
        self.named = {dim: name for dim, (name, _) in enumerate(roots)}
        say(f"  sparse code: dims 0-{len(roots) - 1} stand for subtrees: "
            + ", ".join(f"{name} ({size:,})" for name, size in roots[:8]) + (", ..." if len(roots) > 8 else ""))
        return torch.as_tensor(members)

    def apply(self, vectors: np.ndarray, graph, device, log=None) -> np.ndarray:
        """The code of every sense ((senses, ``sparse_code_dims``) float32, in [0, 1], mostly exact zeros)."""
        cfg, say = self.cfg, log or (lambda *a, **k: None)
        device = torch.device(device)
        gen = torch.Generator().manual_seed(cfg.seed)  # init and order: the same on any device
        noise_gen = torch.Generator(device=device).manual_seed(cfg.seed)
        x = standardize(torch.as_tensor(np.asarray(vectors, dtype=np.float32)).to(device), cfg.sparse_code_unit_rows)
        n, d = x.shape
        m, batch = cfg.sparse_code_dims, min(cfg.sparse_code_batch_size, n)
        up = self.training_pairs(graph, n)
        held = self.subtree_members(graph, up, m, say)  # on the host
        members = None if held is None else held.to(device)
        tied = 0 if members is None else members.shape[1]
        coder = Coder(d, m, gen, cfg.sparse_code_cap, cfg.sparse_code_top_k).to(device)
        opt = torch.optim.Adam(coder.parameters(), lr=cfg.sparse_code_lr)
        weights = {"reconstruction": 1.0, "activation": cfg.sparse_code_sparsity_weight,
                   "binary": cfg.sparse_code_binary_weight, "hubs": cfg.sparse_code_hub_weight,
                   "inherit": cfg.sparse_code_inherit_weight}
        if members is not None:
            weights["subtrees"] = cfg.sparse_code_subtree_weight
        pairs = None
        if cfg.sparse_code_inherit_weight and up is not None and len(up):
            pairs = torch.as_tensor(up).to(device)
        say(f"  sparse code: {n:,} senses x {d} -> {m} dims, {cfg.sparse_code_epochs} epochs on {device}")
        for epoch in range(1, cfg.sparse_code_epochs + 1):
            t0 = time.perf_counter()
            sums = torch.zeros(len(weights) + 1, dtype=torch.float64, device=device)
            perm = torch.randperm(n, generator=gen).to(device)
            for start in range(0, n, batch):
                clean = x.index_select(0, perm[start:start + batch])
                noisy = clean
                if cfg.sparse_code_noise:
                    noise = torch.randn(clean.shape, generator=noise_gen, device=device)
                    noisy = clean + cfg.sparse_code_noise * noise
                h, terms = code_losses(coder, clean, noisy, cfg.sparse_code_activation, tied=tied)
                terms["inherit"] = inherit_loss(coder, x, pairs, rows=clean.shape[0], gen=gen)
                if members is not None:
                    terms["subtrees"] = subtree_loss(coder, noisy, members.index_select(0, perm[start:start + batch]))
                loss = sum(weights[k] * v for k, v in terms.items() if weights[k])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                rows = clean.shape[0]
                with torch.no_grad():  # figures of the epoch, summed on the device (one sync at its end)
                    sums[:-1] += torch.stack([v.detach() for v in terms.values()]).double() * rows
                    sums[-1] += (h == 0).sum()
            figures = (sums / n).tolist()
            say(f"  sparse code epoch {epoch}/{cfg.sparse_code_epochs}: reconstruction {figures[0]:.4f}, "
                f"activation {figures[1]:.2e}, binary {figures[2]:.4f}, hubs {figures[3]:.2e}, "
                + (f"inherit {figures[4]:.2e}, " if pairs is not None else "")
                + (f"subtrees {figures[5]:.2e}, " if members is not None else "")
                + f"{figures[-1] / m:.1%} zeros, {time.perf_counter() - t0:.1f} s")
        code = encode_all(coder, x)
        if held is not None and cfg.sparse_code_exact_floor:
            hold_subtrees(code, held.numpy(), cfg.sparse_code_exact_floor)
            say(f"  sparse code: dims 0-{tied - 1} made exact: each holds its subtree's senses only, at "
                f"{cfg.sparse_code_exact_floor:g} or more")
        if cfg.sparse_code_length_power:
            say(f"  sparse code: each sense's code divided by its length to the power {cfg.sparse_code_length_power:g}")
        return scale_lengths(code, cfg.sparse_code_length_power)


def inherit_loss(coder: Coder, x: torch.Tensor, pairs: torch.Tensor | None, rows: int,
                 gen: torch.Generator) -> torch.Tensor:
    """How far ``rows`` drawn (hyponym, hypernym) pairs are from the hyponym being active wherever its
    hypernym is: the mean of relu(h(hypernym) - h(hyponym))^2 (0 without pairs)."""
    if pairs is None:
        return x.new_zeros(())
    pick = torch.randint(len(pairs), (rows,), generator=gen).to(pairs.device)
    drawn = pairs.index_select(0, pick)
    child, parent = coder.encode(x.index_select(0, drawn[:, 0])), coder.encode(x.index_select(0, drawn[:, 1]))
    return (parent - child).clamp_min(0).pow(2).mean()


def subtrees(vocab, up: np.ndarray, count: int, share: float) -> tuple[list, np.ndarray]:
    """The ``count`` largest subtrees of the (hyponym, hypernym) pairs ``up`` that hold at most ``share``
    of the senses (a subtree: a synset's senses and every sense below them), largest first, ties by synset;
    a subtree inside a chosen one and nearly as large (``NEARLY_ALL`` of its senses: ``chordate.n.01`` under
    ``animal.n.01``'s size would be) is passed over for the next. Returns ([(synset name, senses)],
    (senses, count) bool membership)."""
    import scipy.sparse as sp

    from ..hierarchy import closure, synset_codes

    n = vocab.size
    rows, cols = closure(up, n)  # (sense, ancestor sense)
    synsets, synset = synset_codes(vocab)
    k = len(synsets)
    key = np.unique(rows * k + synset[cols])  # (sense, ancestor synset), each once
    sense, root = key // k, key % k
    size = np.bincount(root, minlength=k)
    above = sp.csr_matrix((np.ones(len(key), bool), (synset[sense], root)), shape=(k, k))  # synset -> ancestors
    chosen: list[int] = []
    taken = np.zeros(k, bool)
    for j in np.lexsort((np.arange(k), -size)):
        if len(chosen) == count or size[j] <= 1:
            break
        if size[j] > share * n:
            continue
        outer = above.indices[above.indptr[j]:above.indptr[j + 1]]
        outer = outer[taken[outer]]
        if len(outer) and size[j] >= NEARLY_ALL * size[outer].min():
            continue
        chosen.append(int(j))
        taken[j] = True
    column = np.full(k, -1)
    column[chosen] = np.arange(len(chosen))
    members = np.zeros((n, len(chosen)), bool)
    keep = column[root] >= 0
    members[sense[keep], column[root[keep]]] = True
    return [(str(synsets[j]), int(size[j])) for j in chosen], members


def subtree_loss(coder: Coder, noisy: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """How far a batch is from each subtree's senses being at ``SUBTREE_FLOOR`` or more on its dimension (the
    first ``members.shape[1]``) and every other sense at 0: squared hinges on the pre-activation."""
    k = members.shape[1]
    z = noisy @ coder.W[:, :k] + coder.b[:k]
    short = (SUBTREE_FLOOR - z).clamp_min(0).pow(2)
    over = z.clamp_min(0).pow(2)
    return torch.where(members, short, over).mean()


def hold_subtrees(code: np.ndarray, members: np.ndarray, floor: float) -> np.ndarray:
    """In place: on the first ``members.shape[1]`` dimensions of ``code``, each subtree's senses at ``floor`` or
    more (their value where higher), every other sense at 0; returns ``code``."""
    k = members.shape[1]
    code[:, :k] = np.where(members, np.maximum(code[:, :k], floor), 0.0)
    return code


def scale_lengths(code: np.ndarray, power: float) -> np.ndarray:
    """In place: each row of ``code`` divided by its length to ``power`` (a row of zeros stays zeros; 0: the
    rows as they are); returns ``code``."""
    if power:
        for start in range(0, code.shape[0], ENCODE_ROWS):
            block = code[start:start + ENCODE_ROWS]
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12) ** power
    return code


@torch.no_grad()
def encode_all(coder: Coder, x: torch.Tensor) -> np.ndarray:
    """The code of every row of ``x``, built on the host in row blocks (float32)."""
    out = np.empty((x.shape[0], coder.W.shape[1]), np.float32)
    for start in range(0, x.shape[0], ENCODE_ROWS):
        out[start:start + ENCODE_ROWS] = coder.encode(x[start:start + ENCODE_ROWS]).cpu().numpy()
    return out


__all__ = ["Coder", "SparseCode", "cap", "code_losses", "encode_all", "hold_subtrees", "keep_top", "scale_lengths",
           "standardize", "subtree_loss", "subtrees"]

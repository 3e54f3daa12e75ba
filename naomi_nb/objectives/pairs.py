"""What `naomi_nb.objectives.graded` and `naomi_nb.objectives.inherit` share: the default objective plus one
term on hierarchy pairs, ``inherit_pairs`` times the batch's size of them drawn per step.

A subclass names its term last in ``terms`` and ``inherit_pairs`` among its knobs (inherited from here), sets ``self.pairs`` (the training pairs, one row each,
sense first) and ``self.val_pairs`` (the validation set's, the same every epoch) and ``self.pair_weight`` in its
``__init__``, and implements `pair_step` (the term's gradient for the drawn rows) and `pair_validation_sum`.
The draws come from a generator re-seeded from the run's once per epoch, so runs and resumes repeat exactly.
"""
from __future__ import annotations

import torch

from ..components import knob
from .negatives import Negatives


class PairTerm(Negatives):
    """Not an objective by itself (no ``name``): the base of those that add a term on hierarchy pairs."""

    name = ""
    knobs = {
        "inherit_pairs": knob(0.5, "objectives inherit and graded: hierarchy pairs drawn per step, as a share "
                                   "of the batch size", range="(0, 1]", search=(0.1, 1.0)),
    }

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.share = cfg.inherit_pairs
        self.gen = torch.Generator(device=device)

    def start_epoch(self, gen):
        super().start_epoch(gen)
        self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def generators(self):
        return super().generators() + [self.gen]

    def means(self, sums, n_edges, split):
        out = super().means(sums[:2], n_edges, split)
        pairs = n_edges * self.share if split == "train" else max(1, len(self.val_pairs))
        out[self.terms[-1]] = self.pair_weight * sums[2] / pairs
        return out

    def step(self, W, G, rows, buf):
        sums = super().step(W, G, rows, buf)
        h = min(buf.rows, max(1, int(rows.shape[0] * self.share)))
        if self.pair_weight == 0 or len(self.pairs) == 0:
            return sums + [torch.zeros((), dtype=W.dtype, device=W.device)]
        pick = torch.randint(0, len(self.pairs), (h,), generator=self.gen, device=W.device)
        drawn = self.pairs.index_select(0, torch.sort(pick).values)  # senses in order: the gather walks rows
        return sums + [self.pair_step(W, G, drawn, buf)]

    def pair_step(self, W, G, drawn: torch.Tensor, buf) -> torch.Tensor:
        """Add the term's gradient for the ``drawn`` pair rows (sorted by sense) to ``G``; return its sum,
        unweighted (`means` applies ``pair_weight``)."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_sums(self, W, edges, buf):
        total = torch.zeros((), dtype=torch.float64, device=W.device)
        for start in range(0, len(self.val_pairs), buf.rows):
            total += self.pair_validation_sum(W, self.val_pairs[start:start + buf.rows])
        return super().validation_sums(W, edges, buf) + [total]

    def pair_validation_sum(self, W, rows: torch.Tensor) -> torch.Tensor:
        """The term's float64 sum over some validation pair rows, unweighted."""
        raise NotImplementedError

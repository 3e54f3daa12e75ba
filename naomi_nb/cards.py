"""Dimension cards: what each dimension of a trained run means, in words a reader knows.

A card describes one dimension by its two poles: ``positive`` (the senses with the largest values) and
``negative`` (the most negative values). Each pole lists its top frequent senses with their WordNet
glosses, the lexname most of its top senses share, how many senses are active on it, and its word-intrusion
score (DistRatio, `naomi_nb.semantics.word_intrusion`). A non-negative embedding has no negative values, so
every negative pole is empty and a card is one pole.

- `dimension_cards`: one card per dimension; `card_name` gives a card the short name a reader uses;
- `best_cards`: the cards best first (by intrusion score, then lexname share);
- `cards_text`: cards as plain text;
- `sense_profile` / `profile_text`: a sense's active dimensions, largest first, each with its card's name.

`naomi_nb.report.analyze_run` stores the cards in report.json under ``"cards"``; 03_explore and
``python -m naomi_nb describe RUN_DIR WORD`` read them from there.
"""
from __future__ import annotations

import re

import numpy as np

from .analysis import AnalysisError, pole_ids, resolve, row_chunks
from .graph import Vocabulary
from .semantics import frequent_senses

POLES = (("positive", 1.0), ("negative", -1.0))
LEXNAME_TOP = 50  # a pole's dominant lexname is counted over its top this-many active senses
GLOSS_WIDTH = 72  # characters of a gloss shown in text at most
LINE_WIDTH = 110  # a sense's line in `cards_text` is kept to this many characters, the gloss cut to fit
_SENSE_KEY = re.compile(r"^(.*\.[nvasr]\.\d+)\.(.+)$")  # synset name, lemma of a key like dog.n.01.dog


def _synset_and_lemma(key: str) -> tuple[str | None, str]:
    match = _SENSE_KEY.match(key)
    return (match.group(1), match.group(2)) if match else (None, key)


def _glosser(wn):
    """``gloss(synset_name) -> str | None`` through NLTK's WordNet, cached; always None without WordNet."""
    cache = {}

    def gloss(name):
        if wn is None or name is None:
            return None
        if name not in cache:
            try:
                cache[name] = wn.synset(name).definition()
            except Exception:  # noqa: BLE001 - a name this WordNet does not know has no gloss
                cache[name] = None
        return cache[name]

    return gloss


def _active_counts(emb: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per dimension, the number of senses with a value above ``eps`` and below ``-eps`` (row chunks)."""
    pos = np.zeros(emb.shape[1], np.int64)
    neg = np.zeros(emb.shape[1], np.int64)
    for sl in row_chunks(*emb.shape):
        pos += np.count_nonzero(emb[sl] > eps, axis=0)
        neg += np.count_nonzero(emb[sl] < -eps, axis=0)
    return pos, neg


def dimension_cards(emb: np.ndarray, vocab: Vocabulary, wn=None, k: int = 5, eps: float = 1e-6,
                    intrusion: dict | None = None, among: np.ndarray | None = None,
                    named: dict | None = None) -> list[dict]:
    """One card per dimension, in dimension order.

    A pole's senses are drawn from ``among``: by default the frequent senses (SemCor count >= 1,
    `naomi_nb.semantics.frequent_senses`), or every sense when the vocabulary has no counts. Only active
    values count (``|x| > eps``), so a pole with no active sense is empty (every negative pole of a
    non-negative embedding).

    Args:
        emb: (V, D) embeddings.
        vocab: the run's vocabulary (``lexname`` and ``count`` used when present).
        wn: an NLTK WordNet reader for the glosses (`naomi_nb.wordnet.load_wordnet`); None: no glosses.
        k: senses listed per pole.
        eps: activity threshold.
        intrusion: `naomi_nb.semantics.word_intrusion` output for the same embedding (its per-dimension
            ``positive`` and ``negative`` DistRatio); None (or a skipped measure): no intrusion scores.
        among: sense ids the poles are drawn from (default: as above).
        named: {dim: name} of the dimensions the run's stage named (`naomi_nb.rundir.named_dims`: the
            subtree a tied dimension stands for); such a card holds it as ``subtree``.

    Returns:
        JSON-safe dicts: ``dim``, ``name`` (`card_name`), ``positive`` and ``negative`` (and ``subtree``,
        for a named dimension). A pole is a dict:

        - ``senses``: ``[sense key, value, gloss or None]`` strongest first, at most k, one per synset
          (its strongest lemma) among the pole's top LEXNAME_TOP (50) active senses of ``among``;
        - ``lexname``: the most common lexname among those top 50 (None without lexnames or senses), and
          ``share``, its share of them;
        - ``lead``: the strongest of them with that lexname (what `card_name` shows);
        - ``n_active``: senses of the whole vocabulary active on the pole;
        - ``intrusion``: the pole's DistRatio, or None.
    """
    emb = np.asarray(emb, dtype=np.float32)
    if among is None:
        among = frequent_senses(vocab)
    ids = np.arange(emb.shape[0]) if among is None else np.asarray(among, dtype=np.int64)
    n_dims = emb.shape[1]
    depth = max(k, LEXNAME_TOP)
    positive, negative = pole_ids(emb[ids], depth, eps) if len(ids) else ([[]] * n_dims, [[]] * n_dims)
    n_active = dict(zip(("positive", "negative"), _active_counts(emb, eps)))
    lexnames = np.asarray(vocab.lexname, dtype=object) if vocab.lexname is not None else None
    gloss = _glosser(wn)
    synset = vocab.synset
    scores = intrusion if isinstance(intrusion, dict) and "skipped" not in intrusion else {}
    cards = []
    for dim in range(n_dims):
        card = {"dim": dim}
        for (side, _), top in zip(POLES, (positive[dim], negative[dim])):
            top = ids[np.asarray(top, dtype=np.int64)]
            senses, seen = [], set()
            for i in top:  # one sense per synset: its lemmas share one gloss and one value, near enough
                key = vocab.id_to_word[i]
                name = synset[i] if synset is not None else _synset_and_lemma(key)[0]
                if (name or key) not in seen:
                    seen.add(name or key)
                    senses.append([key, float(emb[i, dim]), gloss(name)])
                    if len(senses) == k:
                        break
            lexname = share = lead = None
            if lexnames is not None and len(top):
                names, counts = np.unique(lexnames[top].astype(str), return_counts=True)
                best = int(np.argmax(counts))  # a tie goes to the name first in alphabetical order
                lexname, share = str(names[best]), float(counts[best] / len(top))
                lead = vocab.id_to_word[top[np.flatnonzero(lexnames[top] == lexname)[0]]]
            per_dim = scores.get(side)
            score = per_dim[dim] if isinstance(per_dim, list) and dim < len(per_dim) else None
            card[side] = {"senses": senses, "lexname": lexname, "share": share, "lead": lead,
                          "n_active": int(n_active[side][dim]),
                          "intrusion": None if score is None else float(score)}
        if named and dim in named:
            card["subtree"] = named[dim]
        card["name"] = card_name(card)
        cards.append(card)
    return cards


def _pole_name(pole: dict, lexname: bool = True) -> str | None:
    """A pole's dominant lexname and the lemma of its strongest sense with that lexname; None when empty."""
    if not pole["senses"]:
        return None
    lemma = _synset_and_lemma(pole.get("lead") or pole["senses"][0][0])[1]
    return f"{pole['lexname']}: {lemma}" if pole["lexname"] and lexname else lemma


def card_name(card: dict) -> str:
    """A card's short name: a pole's dominant lexname and the lemma of its strongest sense with that lexname
    (``noun.animal: dog``; the top sense's lemma alone when the vocabulary has no lexnames).

    A card with two poles is named ``negative <-> positive``, the lexname said once when both poles share it
    (``noun.animal: cat <-> dog``); one with no active sense ``(inactive)``. A dimension that stands for a
    subtree says the subtree's synset instead of a lexname (``carnivore.n.01: dog``).
    """
    neg, pos = card["negative"], card["positive"]
    if card.get("subtree"):
        return _subtree_name(card["subtree"], neg, pos)
    if neg["senses"] and pos["senses"] and neg["lexname"] and neg["lexname"] == pos["lexname"]:
        return f"{_pole_name(neg)} <-> {_pole_name(pos, lexname=False)}"
    names = [name for name in (_pole_name(neg), _pole_name(pos)) if name]
    return " <-> ".join(names) if names else "(inactive)"


def _subtree_name(subtree: str, *poles: dict) -> str:
    """A tied dimension's name: its subtree's synset and the lemma of each pole's strongest sense
    (``carnivore.n.01: dog``), the synset alone when no pole has a sense."""
    names = [name for name in (_pole_name(pole, lexname=False) for pole in poles) if name]
    return f"{subtree}: " + " <-> ".join(names) if names else subtree


def card_score(card: dict) -> tuple[float, float]:
    """How readable a card is: (its best pole's intrusion score, its best pole's lexname share); a missing
    number counts as lowest."""
    def best(key):
        values = [card[side][key] for side, _ in POLES if card[side][key] is not None]
        return max(values) if values else float("-inf")

    return best("intrusion"), best("share")


def best_cards(cards: list[dict], n: int | None = None) -> list[dict]:
    """The cards ordered best first by `card_score`: the intrusion score of the card's best pole, ties
    (and cards without scores) by the best pole's lexname share, then by dimension."""
    order = sorted(cards, key=lambda c: (*(-x for x in card_score(c)), c["dim"]))
    return order if n is None else order[:n]


def cut(text: str, width: int = GLOSS_WIDTH) -> str:
    """``text`` in at most ``width`` characters, cut at a word boundary with "…" (a first word longer than
    ``width`` is kept whole)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    room = text[:width - 1]  # one character is left for the "…"
    if text[width - 1] != " ":  # the last word in the room is cut: drop it
        room = room.rsplit(" ", 1)[0] if " " in room else text.split(" ", 1)[0]
    return room.rstrip(" ,;:") + "…"


def _number(x, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def cards_text(cards: list[dict], n: int | None = None, per_pole: int = 3) -> str:
    """Cards as plain text, one block each (in the order given; `best_cards` orders them best first).

    Each block: the dimension and its name, then per non-empty pole its active senses, dominant lexname
    with its share, intrusion score, and its top ``per_pole`` senses with value and gloss.
    """
    blocks = []
    for card in cards[:n]:
        lines = [f"dim {card['dim']}: {card.get('name') or card_name(card)}"]
        for side, _ in sorted(POLES, key=lambda pole: pole[1]):  # negative first, as the title reads
            pole = card[side]
            if not pole["senses"]:
                continue
            lex = f"{pole['lexname']} {pole['share']:.0%} of top {LEXNAME_TOP}" if pole["lexname"] else "no lexnames"
            lines.append(f"  {side} pole: {pole['n_active']:,} active; {lex}; "
                         f"intrusion {_number(pole['intrusion'])}")
            for key, value, gloss in pole["senses"][:per_pole]:
                line = f"    {value:+.3f}  {key}"
                width = min(GLOSS_WIDTH, max(30, LINE_WIDTH - len(line) - 2))  # a long key leaves less room
                lines.append(line + (f"  {cut(gloss, width)}" if gloss else ""))
        if len(lines) == 1:
            lines.append("  no active senses")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def sense_profile(emb: np.ndarray, vocab: Vocabulary, query, cards: list[dict] | None, top: int = 10,
                  eps: float = 1e-6, wn=None) -> list[dict]:
    """The active dimensions of every sense of ``query``, largest |value| first, each named by its card.

    The name is that of the card's pole the value lies on (the negative pole's for a negative value), so a
    sense reads as the features it has; a non-negative run's cards have one pole and the names are theirs.

    Args:
        emb: (V, D) embeddings.
        vocab: the run's vocabulary.
        query: a lemma (all its senses), a sense key or a sense id (`naomi_nb.analysis.resolve`).
        cards: `dimension_cards` of the same embedding (names by dimension); None: dimensions unnamed.
        top: dimensions listed per sense.
        eps: activity threshold.
        wn: an NLTK WordNet reader for each sense's gloss; None: no gloss.

    Returns:
        One dict per sense: ``id``, ``sense``, ``gloss``, ``n_active`` and ``dims``, a list of
        ``(dim, value, name)``.

    Raises:
        AnalysisError: one line, when nothing matches ``query``.
    """
    by_dim = {c["dim"]: c for c in cards or ()}

    def name(dim, value):  # the pole the value lies on, else the whole card
        card = by_dim.get(dim)
        if card is None:
            return f"dim {dim}"
        pole = card["positive" if value > 0 else "negative"]
        if card.get("subtree"):
            return _subtree_name(card["subtree"], pole)
        return _pole_name(pole) or card.get("name") or card_name(card)

    gloss = _glosser(wn)
    out = []
    for i in resolve(vocab, query):
        row = np.asarray(emb[i], dtype=np.float32)
        active = np.flatnonzero(np.abs(row) > eps)
        order = active[np.argsort(-np.abs(row[active]), kind="stable")][:top]
        key = vocab.id_to_word[i]
        synset = vocab.synset[i] if vocab.synset is not None else _synset_and_lemma(key)[0]
        out.append({"id": int(i), "sense": key, "gloss": gloss(synset), "n_active": int(len(active)),
                    "dims": [(int(d), float(row[d]), name(int(d), row[d])) for d in order]})
    return out


def profile_text(emb: np.ndarray, vocab: Vocabulary, query, cards: list[dict] | None, top: int = 10,
                 eps: float = 1e-6, wn=None) -> str:
    """`sense_profile` as plain text (a one-line message when the word is unknown)."""
    try:
        profiles = sense_profile(emb, vocab, query, cards, top, eps, wn)
    except AnalysisError as e:
        return str(e)
    blocks = []
    for p in profiles:
        shown = f", the {len(p['dims'])} largest" if len(p["dims"]) < p["n_active"] else ""
        lines = [f"{p['sense']}: {p['n_active']} of {emb.shape[1]} dims active{shown}"]
        if p["gloss"]:
            lines.append(f"  {cut(p['gloss'], 100)}")
        lines += [f"  dim {d:>4}  {value:+.3f}  {name}" for d, value, name in p["dims"]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)

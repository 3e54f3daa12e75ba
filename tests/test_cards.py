"""naomi_nb.cards: dimension cards and a sense's profile on planted embeddings whose answer is known, and the
describe command on a tiny trained run."""
import json

import numpy as np
import pytest

from naomi_nb import cards as C
from naomi_nb.__main__ import main
from naomi_nb.graph import Vocabulary

ANIMALS = ["dog", "cat", "horse", "cow"]
MOTIONS = ["run", "walk", "swim"]


def _vocab():
    """Four animals, three motion verbs, two artifacts; 'wolf' is an animal SemCor never tagged."""
    words, lexnames = [], []
    for w in ANIMALS:
        words.append(f"{w}.n.01.{w}")
        lexnames.append("noun.animal")
    for w in MOTIONS:
        words.append(f"{w}.v.01.{w}")
        lexnames.append("verb.motion")
    for w in ("car", "cup"):
        words.append(f"{w}.n.01.{w}")
        lexnames.append("noun.artifact")
    words.append("wolf.n.01.wolf")
    lexnames.append("noun.animal")
    count = [3] * (len(words) - 1) + [0]
    synset = [w.rsplit(".", 1)[0] for w in words]
    return Vocabulary(words, pos=[s.split(".")[1] for s in synset], synset=synset, lexname=lexnames, count=count)


def _planted(vocab):
    """Non-negative: dim 0 = animals (dog strongest; the rare wolf stronger still), dim 1 = motion verbs,
    dim 2 = nothing, dim 3 = a little of every sense."""
    emb = np.zeros((vocab.size, 4), np.float32)
    for i, key in enumerate(vocab.id_to_word):
        lexname = vocab.lexname[i]
        if lexname == "noun.animal":
            emb[i, 0] = 1.0 - 0.1 * i
        if lexname == "verb.motion":
            emb[i, 1] = 0.5 + 0.1 * i
        emb[i, 3] = 0.01 * (i + 1)
    emb[vocab.word_to_id["wolf.n.01.wolf"], 0] = 5.0
    return emb


class FakeWordNet:
    """The few synsets the tests know, with long definitions."""

    GLOSSES = {"dog.n.01": "a member of the genus Canis (probably descended from the common wolf) that has "
                           "been domesticated by man since prehistoric times",
               "run.v.01": "move fast by using one's feet, with one foot off the ground at any given time"}

    def synset(self, name):
        if name not in self.GLOSSES:
            raise ValueError(f"no synset {name}")
        gloss = self.GLOSSES[name]
        return type("Synset", (), {"definition": lambda self: gloss})()


def test_a_planted_animal_dimension_gets_an_animal_card_with_one_pole():
    vocab = _vocab()
    emb = _planted(vocab)
    cards = C.dimension_cards(emb, vocab, wn=FakeWordNet(), k=3)
    assert [c["dim"] for c in cards] == [0, 1, 2, 3]
    animal = cards[0]
    pos = animal["positive"]
    assert pos["lexname"] == "noun.animal" and pos["share"] == 1.0
    # strongest first, among frequent senses only: the untagged wolf is left out of the pole
    assert [s[0] for s in pos["senses"]] == ["dog.n.01.dog", "cat.n.01.cat", "horse.n.01.horse"]
    assert pos["senses"][0][1] == pytest.approx(1.0)
    assert pos["senses"][0][2].startswith("a member of the genus Canis") and pos["senses"][1][2] is None
    assert pos["n_active"] == 5  # counted over every sense, the wolf included
    assert animal["negative"] == {"senses": [], "lexname": None, "share": None, "lead": None, "n_active": 0,
                                  "intrusion": None}
    assert animal["name"] == C.card_name(animal) == "noun.animal: dog"
    assert cards[1]["name"] == "verb.motion: swim"  # the motion verb with the largest value
    assert cards[2]["name"] == "(inactive)" and cards[2]["positive"]["senses"] == []
    assert json.loads(json.dumps(cards, allow_nan=False)) == json.loads(json.dumps(cards))  # JSON-safe as is

    text = C.cards_text(cards, per_pole=2)
    block = text.split("\n\n")[0].splitlines()
    assert block[0] == "dim 0: noun.animal: dog"
    assert block[1] == "  positive pole: 5 active; noun.animal 100% of top 50; intrusion -"
    assert block[2].startswith("    +1.000  dog.n.01.dog  a member of the genus Canis") and block[2].endswith("…")
    assert len(block) == 4 and "negative" not in text  # an empty pole is not shown
    assert max(len(line) for line in text.splitlines()) <= C.LINE_WIDTH
    assert "dim 2: (inactive)\n  no active senses" in text
    assert C.cards_text(cards, n=1) == "\n".join(C.cards_text(cards, per_pole=3).split("\n\n")[:1])


def test_signed_poles_mixed_lexnames_intrusion_and_the_best_cards():
    vocab = _vocab()
    emb = _planted(vocab)
    ids = vocab.word_to_id
    emb[ids["car.n.01.car"], 1] = -2.0
    emb[ids["cup.n.01.cup"], 1] = -1.0
    emb[ids["run.v.01.run"], 1] = -0.5  # the negative pole: two artifacts and one verb
    emb[ids["horse.n.01.horse"], 0] = -1.0  # an animal at each pole of dim 0
    intrusion = {"positive": [1.2, 2.5, None, 1.2], "negative": [None, 3.0, None, None]}
    cards = C.dimension_cards(emb, vocab, intrusion=intrusion)
    neg = cards[1]["negative"]
    assert [s[0] for s in neg["senses"]] == ["car.n.01.car", "cup.n.01.cup", "run.v.01.run"]
    assert neg["lexname"] == "noun.artifact" and neg["share"] == pytest.approx(2 / 3) and neg["n_active"] == 3
    assert neg["intrusion"] == 3.0 and cards[1]["positive"]["intrusion"] == 2.5
    assert cards[1]["name"] == "noun.artifact: car <-> verb.motion: swim"
    assert cards[0]["name"] == "noun.animal: horse <-> dog"  # the lexname both poles share is said once
    assert all(s[2] is None for c in cards for side in ("positive", "negative") for s in c[side]["senses"])
    # best first: the best pole's intrusion score, then its lexname share (dim 3's top 50 mixes three)
    assert [c["dim"] for c in C.best_cards(cards)] == [1, 0, 3, 2]
    assert C.card_score(cards[2]) == (float("-inf"), float("-inf"))
    # a skipped intrusion measure gives no scores, and the order falls back on the lexname share
    skipped = C.dimension_cards(emb, vocab, intrusion={"skipped": "no counts"})
    assert all(c["positive"]["intrusion"] is None for c in skipped)
    assert [c["dim"] for c in C.best_cards(skipped, 2)] == [0, 1]


def test_a_vocabulary_without_counts_or_lexnames_uses_every_sense():
    vocab = Vocabulary(["dog.n.01.dog", "dog.n.03.frump", "cat.n.01.cat"])
    emb = np.array([[0.2, 0.0], [0.9, 0.0], [0.0, -0.3]], np.float32)
    cards = C.dimension_cards(emb, vocab)
    assert cards[0]["positive"]["lexname"] is None and cards[0]["positive"]["share"] is None
    assert cards[0]["name"] == "frump" and cards[1]["name"] == "cat"  # the top sense's lemma
    assert "no lexnames" in C.cards_text(cards)
    among = C.dimension_cards(emb, vocab, among=np.array([0, 2]))
    assert among[0]["name"] == "dog"


def test_a_pole_lists_one_lemma_per_synset():
    vocab = Vocabulary(["dog.n.01.dog", "dog.n.01.domestic_dog", "cat.n.01.cat", "cow.n.01.cow"])
    emb = np.array([[0.9], [0.85], [0.5], [0.1]], np.float32)
    (card,) = C.dimension_cards(emb, vocab, k=2)
    assert [s[0] for s in card["positive"]["senses"]] == ["dog.n.01.dog", "cat.n.01.cat"]
    assert card["positive"]["n_active"] == 4


def test_glosses_are_cut_at_a_word_boundary():
    gloss = FakeWordNet.GLOSSES["dog.n.01"]
    for width in range(10, len(gloss)):
        cut = C.cut(gloss, width)
        assert len(cut) <= width and cut.endswith("…")
        kept = cut[:-1]
        assert gloss.startswith(kept) and gloss[len(kept)] in " ,"  # whole words only
    assert C.cut(gloss, len(gloss)) == gloss
    assert C.cut("one two,  three", 9) == "one two…"  # the comma before the cut is dropped
    assert C.cut("antidisestablishmentarianism is long", 8) == "antidisestablishmentarianism…"


def test_a_senses_profile_lists_its_active_dims_largest_first_with_their_names():
    vocab = _vocab()
    emb = _planted(vocab)
    emb[vocab.word_to_id["dog.n.01.dog"], 1] = -2.0
    cards = C.dimension_cards(emb, vocab)
    (profile,) = C.sense_profile(emb, vocab, "dog", cards)
    assert profile["sense"] == "dog.n.01.dog" and profile["n_active"] == 3
    # named by the pole the value lies on: dim 1's negative pole is dog's own
    assert cards[1]["name"] == "noun.animal: dog <-> verb.motion: swim"
    assert [(d, name) for d, _, name in profile["dims"]] == [
        (1, "noun.animal: dog"), (0, "noun.animal: dog"), (3, cards[3]["name"])]
    (run,) = C.sense_profile(emb, vocab, "run", cards)
    assert run["dims"][0][0] == 1 and run["dims"][0][2] == "verb.motion: swim"
    assert [v for _, v, _ in profile["dims"]] == pytest.approx([-2.0, 1.0, 0.01])
    text = C.profile_text(emb, vocab, "dog.n.01.dog", cards, top=2, wn=FakeWordNet()).splitlines()
    assert text[0] == "dog.n.01.dog: 3 of 4 dims active, the 2 largest"
    assert text[1].startswith("  a member of the genus Canis")
    assert text[2:] == ["  dim    1  -2.000  noun.animal: dog", "  dim    0  +1.000  noun.animal: dog"]
    # cards read back from report.json (lists, a stored name) and no cards at all
    stored = json.loads(json.dumps(cards))
    assert C.sense_profile(emb, vocab, "dog", stored) == [profile]
    assert C.sense_profile(emb, vocab, "dog", None)[0]["dims"][0][2] == "dim 1"
    assert C.sense_profile(emb, vocab, "dog", cards[:1])[0]["dims"][0][2] == "dim 1"
    message = C.profile_text(emb, vocab, "unicorn", cards)
    assert "no sense of 'unicorn'" in message and "\n" not in message


@pytest.mark.wordnet
def test_glosses_come_from_the_real_wordnet():
    from naomi_nb.wordnet import load_wordnet

    wn = load_wordnet(download=False, log=lambda *a: None)
    vocab = Vocabulary(["dog.n.01.dog", "run.v.01.run"], synset=["dog.n.01", "run.v.01"],
                       lexname=["noun.animal", "verb.motion"], count=[1, 1])
    cards = C.dimension_cards(np.eye(2, dtype=np.float32), vocab, wn=wn)
    assert cards[0]["positive"]["senses"][0][2].startswith("a member of the genus Canis")
    assert "dog" in C.profile_text(np.eye(2, dtype=np.float32), vocab, "dog", cards, wn=wn)


# ---------------------------------------------------------------- the describe command and report.json

SMALL = ["--embedding-dim", "4", "--batch-size", "64", "--min-batch-size", "8", "--no-analyze",
         "--checkpoint-seconds", "0", "--device", "cpu", "--objective", "seed"]


@pytest.mark.slow
def test_describe_prints_a_words_profile_and_report_json_holds_the_cards(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "3", *SMALL]) == 0
    capsys.readouterr()
    assert main(["describe", str(run), "w0_1.n.01.w0_1", "--top", "2"]) == 0  # no report yet: the cards are computed
    out = capsys.readouterr().out.splitlines()
    assert "report.json is missing: computing the cards" in out[0]
    assert out[1].startswith("w0_1.n.01.w0_1: ") and out[1].endswith("dims active, the 2 largest")
    assert len(out) == 4 and all(line.startswith("  dim ") for line in out[2:])

    assert main(["analyze", str(run)]) == 0
    report = json.loads((run / "report.json").read_text())
    assert [c["dim"] for c in report["cards"]] == list(range(report["n_dims"]))
    assert "dimension cards, the best 5:" in (run / "summary.txt").read_text()
    capsys.readouterr()
    assert main(["describe", str(run), "w0_1.n.01.w0_1", "--top", "2"]) == 0
    stored = capsys.readouterr().out.splitlines()
    assert stored == out[1:]  # the stored cards name the dims as the computed ones did
    names = {c["dim"]: c["name"] for c in report["cards"]}
    assert all(line.split(maxsplit=3)[3] in names[int(line.split()[1])].split(" <-> ") for line in stored[1:])

    (run / "report.json").write_text("{")  # damaged: computed again, said in one line
    assert main(["describe", str(run), "w0_1.n.01.w0_1", "--top", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "is not valid JSON" in out[0] and out[1:] == stored

    for argv in (["describe", str(tmp_path / "nothing"), "dog"], ["describe", str(run), "unicorn"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and not captured.out


def test_a_dimension_a_stage_tied_to_a_subtree_is_named_by_it():
    vocab = _vocab()
    emb = np.clip(_planted(vocab), 0, None)  # a non-negative code: positive poles only
    plain = C.dimension_cards(emb, vocab)
    cards = C.dimension_cards(emb, vocab, named={0: "animal.n.01"})
    lemma = plain[0]["name"].split(": ")[-1]
    assert cards[0]["subtree"] == "animal.n.01" and cards[0]["name"] == f"animal.n.01: {lemma}"
    assert "subtree" not in cards[1] and cards[1]["name"] == plain[1]["name"]
    (profile,) = C.sense_profile(emb, vocab, "dog.n.01.dog", cards)
    names = {d: name for d, _, name in profile["dims"]}
    assert names[0].startswith("animal.n.01: ")

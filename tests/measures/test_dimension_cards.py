"""The cards measure: one card per dimension, with the intrusion measure's scores rather than new draws."""
from helpers import PLANTED

from naomi_nb.measures import measure_lines
from naomi_nb.measures.dimension_cards import cards


def test_cards_read_the_intrusion_measure_and_name_the_planted_dimension(planted):
    graph, emb, ctx = planted
    out = cards(ctx)
    scores = ctx.result("intrusion")
    assert [c["dim"] for c in out] == list(range(emb.shape[1]))
    assert all(c["positive"]["intrusion"] == scores["positive"][c["dim"]] for c in out)
    assert out[PLANTED]["positive"]["lexname"] == "lex0" and out[PLANTED]["negative"]["lexname"] == "lex1"
    (line,) = measure_lines("cards", cards, out)
    assert line.startswith("best dimension cards: dim ")

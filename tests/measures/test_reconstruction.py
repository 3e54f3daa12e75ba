"""The reconstruction measure: `naomi_nb.semantics.reconstruction` with the report's sample, no rotation."""
from naomi_nb import semantics
from naomi_nb.measures import measure_lines
from naomi_nb.measures.reconstruction import N_SOURCES, reconstruction


def test_reconstruction_is_the_semantics_function_and_is_not_a_readability_measure(planted):
    graph, emb, ctx = planted
    out = reconstruction(ctx)
    assert out == semantics.reconstruction(emb, graph, n_sources=N_SOURCES, seed=0)
    assert not getattr(reconstruction, "axis_dependent", ())  # distances only: a rotation changes nothing
    (line,) = measure_lines("reconstruction", reconstruction, out)
    assert line.startswith("reconstruction (") and "MAP" in line
    assert measure_lines("reconstruction", reconstruction, {"skipped": "why"}) == ["reconstruction: skipped (why)"]

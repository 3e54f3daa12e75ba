"""A search's space: parameters parsed from the command line and from a notebook's dict, checked against the
configuration's fields, with one-line errors."""
import pytest

from naomi_nb.errors import ConfigError
from naomi_nb.space import Param, parse_param, parse_space


def test_parse_param_forms():
    assert parse_param("lr=1e-3:1e-1:log") == Param("lr", 1e-3, 1e-1, log=True)
    assert parse_param("expand-by=16,32,64") == Param("expand_by", choices=(16, 32, 64))
    assert parse_param("epochs=5:20") == Param("epochs", 5, 20)
    assert parse_param("dynamic_dims=true,false").choices == (True, False)
    assert parse_param("sparsity_mode=seed,proximal").choices == ("seed", "proximal")
    assert parse_space({"lr": (1e-3, 1e-1, "log"), "expand_by": [16, 32]}) == [
        Param("lr", 1e-3, 1e-1, log=True), Param("expand_by", choices=(16, 32))]
    for p in (parse_param("lr=1e-3:1e-1:log"), parse_param("expand_by=16,32,64")):
        assert parse_param(p.spec()) == p


@pytest.mark.parametrize("spec, message", [
    ("lr", "no declared range (give one: lr=LOW:HIGH[:log] or lr=A,B,C)"),
    ("=0.1", "expected NAME=LOW:HIGH[:log] or NAME=A,B,C"),
    ("learning_rate", "not a training setting"),
    ("learning_rate=1:2", "not a training setting"),
    ("output_dir=a,b", "cannot be searched"),
    ("lr=0.1:0.01", "low (0.1) must be below high (0.01)"),
    ("lr=0:0.1:log", "a log range needs low > 0"),
    ("lr=1e-3:1e-1:ln", "a range is LOW:HIGH or LOW:HIGH:log"),
    ("expand_by=16,3.5", "'3.5' is not a valid int"),
    ("sparsity_mode=a:b", "takes a list of choices"),
    ("dynamic_dims=maybe,true", "is not a valid bool"),
])
def test_bad_specs_are_one_line_config_errors(spec, message):
    with pytest.raises(ConfigError, match="^--param .*" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        parse_param(spec)
    with pytest.raises(ConfigError, match="given twice"):
        parse_space(["lr=0.1:0.2", "lr=0.2:0.3"])


def test_a_knob_alone_takes_its_components_declared_range():
    from naomi_nb import components

    assert parse_param("graded_hops") == Param("graded_hops", choices=(2, 3, 4, 6))
    assert parse_param("negative-weight") == Param("negative_weight", 0.1, 10.0, log=True)
    assert parse_param("objective") == Param("objective", choices=components.names("objective"))
    assert parse_space({"tree_weight": None}) == [Param("tree_weight", 0.25, 1.0)]

"""naomi_nb/config.py: the knobs every run has, TrainConfig made from the components' registry, the layers of
the resolver, the command line's contradictions, and an import structure with no circles."""
import ast
import dataclasses
from pathlib import Path

import pytest

from naomi_nb import components
from naomi_nb import config as C
from naomi_nb.__main__ import build_parser
from naomi_nb.config import PRESETS, RunConfig, TrainConfig, config_from_args
from naomi_nb.errors import ConfigError

PACKAGE = Path(C.__file__).resolve().parent


def imports_of(path: Path) -> set[str]:
    """The package modules a file imports, at module level or inside functions, as dotted names."""
    tree = ast.parse(path.read_text())
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("naomi_nb")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("naomi_nb"):
                continue
            for a in node.names:  # ``from . import x`` may name a module
                sub = f"{mod}.{a.name}"
                out.add(sub if module_file(sub) else mod)
    return {m for m in out if module_file(m)}


def module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    for candidate in (PACKAGE.joinpath(*parts).with_suffix(".py"), PACKAGE.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return PACKAGE / "__init__.py" if not parts else None


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("naomi_nb",) + parts)


def import_graph() -> dict[str, set[str]]:
    graph = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    # a module imports its package too (Python runs the package's __init__ first)
    for name in list(graph):
        graph[name] = {m for m in graph[name] if m != name}
    return graph


def test_no_import_circle_at_module_level_or_inside_functions():
    graph = import_graph()
    seen, stack, circles = set(), [], []

    def visit(node):
        if node in stack:
            circles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # a module importing its own package's __init__ is Python's order, not a circle of ours
            if node.startswith(nxt + "."):
                continue
            visit(nxt)
        stack.pop()

    for name in sorted(graph):
        visit(name)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_config_imports_no_component_nor_the_device_and_the_bottom_floor_nothing():
    graph = import_graph()
    assert graph["naomi_nb.config"] <= {"naomi_nb.components", "naomi_nb.errors", "naomi_nb.files"}
    assert graph["naomi_nb.components"] == {"naomi_nb.errors"}
    assert graph["naomi_nb.errors"] == set() and graph["naomi_nb.runfiles"] == set()


def test_train_config_is_run_config_plus_every_component_knob():
    own = {f.name for f in dataclasses.fields(RunConfig)}
    knobs = set(components.settings())
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert names == own | knobs and not own & knobs
    assert issubclass(TrainConfig, RunConfig) and TrainConfig.__module__ == "naomi_nb.config"
    cfg = TrainConfig(graded_hops=3)
    assert cfg.replace(lr=0.02).graded_hops == 3 and TrainConfig.from_dict(cfg.to_dict()) == cfg
    import pickle

    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(ConfigError, match="unknown config keys: nope"):
        TrainConfig.from_dict({"nope": 1})


def test_resolve_layers_defaults_device_preset_then_overrides():
    cpu = C.resolve({"epochs": 3}, "aggressive", defaults_for="cpu")
    assert cpu.epochs == 3 and cpu.embedding_dim == PRESETS["aggressive"]["embedding_dim"] // 4
    assert cpu.training_data == C.CPU_DEFAULTS["training_data"]
    gpu = C.resolve({}, "aggressive", defaults_for="cuda")
    assert gpu.embedding_dim == 128 and gpu.training_data == "data/wordnet_training"
    assert C.resolve() == TrainConfig()
    with pytest.raises(ConfigError, match="unknown preset 'x'"):
        C.resolve(preset="x")
    assert C.device_presets("cuda") == PRESETS and C.device_presets("cpu")["fixed"]["embedding_dim"] == 128


def test_resume_takes_only_the_resumable_changes():
    saved = TrainConfig(epochs=3)
    assert C.resolve_resume(saved, {"epochs": 9}).epochs == 9
    with pytest.raises(ConfigError, match="with --resume only .* can change \\(got --lr\\)"):
        C.resolve_resume(saved, {"lr": 0.1})


def test_train_help_groups_each_kinds_components_and_knobs(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    for kind, k in components.KINDS.items():
        if k.field:
            assert f"{k.label} settings:" in out
            for name in components.names(kind):
                assert f"    {name}: " in out


def test_preset_then_explicit_flags_win():
    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["train", "--preset", "aggressive", "--patience", "7"]))
    assert cfg.patience == 7 and cfg.expand_interval == PRESETS["aggressive"]["expand_interval"] == 2
    assert cfg.expand_by == 64 and cfg.dynamic_dims
    cfg = config_from_args(parser.parse_args(["train", "--preset", "fixed"]))
    assert cfg.embedding_dim == 512 and cfg.batch_size == 524288 and not cfg.dynamic_dims
    defaults = config_from_args(parser.parse_args(["train"]))
    assert defaults == TrainConfig()
    assert (defaults.embedding_dim, defaults.max_dims, defaults.expand_interval, defaults.expand_by,
            defaults.patience, defaults.min_delta, defaults.saturation_threshold, defaults.min_batch_size,
            defaults.sparsity_weight) == (128, 512, 2, 64, 10, 0.0001, 0.3, 32768, 0.001)


def test_flags_that_agree_pass_silently():
    from naomi_nb.config import check_explicit

    assert check_explicit({"objective": "negatives", "negatives": 5, "dynamic_dims": True, "expand_by": 8,
                           "sparsity_mode": "proximal", "proximal_strength": 0.5}) == []
    assert check_explicit({"expand_by": 8}, preset="aggressive") == []

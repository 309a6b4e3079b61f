"""The package import graph respects the layers: core < benchmarks < eval < models < launch < app.

The graph is read from the source files with `ast` (nothing is imported): every `import` /
`from ... import` counts, module-level or inside a function (a lazy import is still a dependency),
except those under `if TYPE_CHECKING:`. Relative imports are resolved, `from pkg import sub` counts
as an import of `pkg.sub` when `sub` is a module, and a lazy registry reference
`"msvg_bench.pkg.module:attribute"` (`Registry.add_lazy`) counts as an import of that module.
Files map to module names through `ROOTS` in setup.py.

The root package `msvg_bench` (harness/__init__.py, only `__version__`) belongs to no layer: Python
runs it for every `msvg_bench.*` import anyway, so any module may import it, and it must import
nothing from the package.

Two more rules read the same graph: no two modules import each other, directly or through others
(a function-level import included: such a cycle only works because one side waits), and the narrower "**A → B**: only X" claims of
docs/architecture.md section 1 hold. See docs/architecture.md.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "msvg_bench"

LAYERS: tuple[str, ...] = ("core", "benchmarks", "eval", "models", "launch", "app")
"""Lowest first: a module may import its own layer and the layers before it, never one after it."""

LAYER_PREFIXES: dict[str, str] = {
    "core": "msvg_bench.core",
    "benchmarks": "msvg_bench.benchmarks",
    "eval": "msvg_bench.eval",
    "models": "msvg_bench.models",
    "launch": "msvg_bench.launch",
}
"""Layer -> package; every other `msvg_bench.*` module (cli, commands, comparison, config, ...) is `app`."""

_LAZY_REFERENCE = re.compile(r"msvg_bench(?:\.\w+)+:\w+")


@dataclass(frozen=True)
class Import:
    """One dependency edge: `importer` (in `path`, at `line`) imports module `imported`."""

    importer: str
    path: str
    line: int
    imported: str

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} -> {self.imported}"

    def located(self) -> str:
        """The edge with its file, for messages that must point at the source line."""
        return f"{self} ({self.path}:{self.line})"


def setup_roots(repo_root: Path = REPO_ROOT) -> dict[str, str]:
    """`ROOTS` of setup.py (package name -> folder), read with `ast` so setup.py is not executed."""
    tree = ast.parse((repo_root / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ROOTS" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise AssertionError("setup.py defines no ROOTS mapping")


def module_files(repo_root: Path, roots: Mapping[str, str]) -> dict[str, Path]:
    """Every module name of the package -> its source file (`pkg/__init__.py` is module `pkg`)."""
    modules: dict[str, Path] = {}
    for package, folder in roots.items():
        for path in sorted((repo_root / folder).rglob("*.py")):
            parts = list(path.relative_to(repo_root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` (their `else:` still runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _resolve_from(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module named by `from <level dots><target> import ...` inside `module`."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(module: str, path: Path, known: Iterable[str], repo_root: Path = REPO_ROOT) -> list[Import]:
    """The `msvg_bench` modules that `module` (source file `path`) depends on at run time."""
    known = set(known)
    rel = path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else str(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []  # one entry per name imported; deduplicated on return

    def add(node: ast.AST, imported: str) -> None:
        if imported == PACKAGE or imported.startswith(PACKAGE + "."):
            found.append(Import(module, rel, node.lineno, imported))

    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(node, sub if sub in known else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _LAZY_REFERENCE.fullmatch(node.value):
            add(node, node.value.partition(":")[0])
    return sorted(set(found), key=lambda edge: (edge.line, edge.imported))


def build_graph(repo_root: Path = REPO_ROOT, roots: Mapping[str, str] | None = None) -> list[Import]:
    """Every import edge between `msvg_bench` modules, found in the source tree."""
    modules = module_files(repo_root, setup_roots(repo_root) if roots is None else roots)
    return [edge for name, path in modules.items() for edge in imports_of(name, path, modules, repo_root)]


@cache
def repo_graph() -> tuple[Import, ...]:
    """The graph of this checkout (computed once per test session)."""
    return tuple(build_graph())


def layer_of(module: str) -> str | None:
    """The layer of a `msvg_bench` module; None for the root package `msvg_bench` itself."""
    if module == PACKAGE:
        return None
    for layer, prefix in LAYER_PREFIXES.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "app"


def cross_layer_edges(imports: Iterable[Import]) -> dict[tuple[str, str], list[Import]]:
    """(importer layer, imported layer) -> the imports behind it, for imports between different layers."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for edge in imports:
        source, target = layer_of(edge.importer), layer_of(edge.imported)
        if source is not None and target is not None and source != target:
            edges.setdefault((source, target), []).append(edge)
    return edges


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """The groups of mutually reachable nodes of `graph` (node -> successors) with more than one node (Tarjan)."""
    nodes: dict[str, list[str]] = {}
    for source, targets in graph.items():
        nodes.setdefault(source, []).extend(sorted(set(targets)))
        for target in targets:
            nodes.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in nodes[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return [component for component in components if len(component) > 1]


def layer_cycles(imports: Iterable[Import]) -> list[dict[tuple[str, str], list[Import]]]:
    """Each group of mutually dependent layers, as its (importer layer, imported layer) pairs with the
    imports behind each; an empty list when the layer graph is acyclic."""
    edges = cross_layer_edges(imports)
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    components = strongly_connected(graph)
    return [
        {pair: found for pair, found in sorted(edges.items()) if set(pair) <= component}
        for component in components
        if len(component) > 1
    ]


def describe_cycle(cycle: Mapping[tuple[str, str], Sequence[Import]], order: Sequence[str] = LAYERS, examples: int = 3) -> str:
    """A cycle's layer pairs, those pointing up `order` (the likely offenders) first, each with example imports."""
    rank = {layer: position for position, layer in enumerate(order)}
    pairs = sorted(cycle, key=lambda pair: (rank[pair[1]] < rank[pair[0]], len(cycle[pair]), pair))
    lines = []
    for source, target in pairs:
        found = cycle[(source, target)]
        up = "  <- up the layer order" if rank[target] > rank[source] else ""
        lines.append(f"{source} -> {target} ({len(found)} import(s)){up}:")
        lines.extend(f"    {edge.located()}" for edge in found[:examples])
    return "\n  ".join(lines)


def layer_violations(imports: Iterable[Import], order: Sequence[str] = LAYERS) -> list[Import]:
    """The imports of a layer that comes later in `order` than the importer's layer."""
    rank = {layer: position for position, layer in enumerate(order)}
    return [
        edge
        for (source, target), found in sorted(cross_layer_edges(imports).items())
        if rank[target] > rank[source]
        for edge in found
    ]


def core_leaks(imports: Iterable[Import]) -> list[Import]:
    """Imports from inside `msvg_bench.core` of `msvg_bench` modules outside it (the root package aside)."""
    return [edge for edge in imports if layer_of(edge.importer) == "core" and layer_of(edge.imported) not in ("core", None)]


def module_cycles(imports: Iterable[Import]) -> list[list[Import]]:
    """Each group of modules that import each other (directly or through others), as the imports inside
    the group; an empty list when the module graph is acyclic."""
    loaded = [edge for edge in imports if edge.importer != edge.imported]
    graph: dict[str, set[str]] = {}
    for edge in loaded:
        graph.setdefault(edge.importer, set()).add(edge.imported)
    return [
        sorted((edge for edge in loaded if edge.importer in group and edge.imported in group), key=str)
        for group in sorted(strongly_connected(graph), key=sorted)
    ]


_CLAIM = re.compile(r"^- \*\*(?P<sources>[\w/]+) → (?P<target>\w+)\*\*: only (?P<rest>.*)$")
_PATH = re.compile(r"`(?P<path>[\w/]+?)(?:\.py)?`")


@dataclass(frozen=True)
class Claim:
    """A "**source → target**: only ..." line of the doc: the only modules (importer or imported side)
    through which `source` layer may import `target` layer at run time; none named: no run-time import."""

    source: str
    target: str
    through: tuple[str, ...]
    text: str


def folder_module(path: str, roots: Mapping[str, str]) -> str | None:
    """The module (or package) a doc path like `eval/encoders` or `launch/recipe_world.py` names."""
    parts = path.removesuffix(".py").split("/")
    for package, folder in sorted(roots.items(), key=lambda item: -len(item[1])):
        head = folder.split("/")
        if parts[: len(head)] == head:
            return ".".join([package, *parts[len(head) :]])
    return None


def doc_claims(text: str, roots: Mapping[str, str]) -> list[Claim]:
    """The narrow "only" claims of the layer section of docs/architecture.md."""
    claims = []
    for line in text.splitlines():
        match = _CLAIM.match(line)
        if not match:
            continue
        first_sentence = match["rest"].split(". ")[0]
        through = tuple(m for m in (folder_module(p["path"], roots) for p in _PATH.finditer(first_sentence)) if m)
        for source in match["sources"].split("/"):
            claims.append(Claim(source, match["target"], through, line.strip()))
    return claims


def claim_violations(claim: Claim, imports: Iterable[Import]) -> list[Import]:
    """The run-time imports from `claim.source` to `claim.target` that go through none of its modules."""

    def within(module: str) -> bool:
        return any(module == name or module.startswith(name + ".") for name in claim.through)

    return [
        edge
        for edge in cross_layer_edges(imports).get((claim.source, claim.target), [])
        if not (within(edge.importer) or within(edge.imported))
    ]


def _listing(edges: Sequence[Import], located: bool = False, limit: int = 40) -> str:
    lines = [edge.located() if located else str(edge) for edge in edges[:limit]]
    if len(edges) > limit:
        lines.append(f"... and {len(edges) - limit} more")
    return "\n  ".join(lines)


# --- the rules, on this checkout ---------------------------------------------------------------


def test_graph_is_read() -> None:
    """The scanner sees the package (guards the rules below against passing on an empty graph)."""
    graph = repo_graph()
    importers = {edge.importer for edge in graph}
    assert {"msvg_bench.core.tracking", "msvg_bench.evaluation", "msvg_bench.launch.trainer"} <= importers
    assert any(edge.importer == "msvg_bench.evaluation" and edge.imported == "msvg_bench.eval.runner" for edge in graph)
    assert set(cross_layer_edges(graph)) >= {("app", "core"), ("models", "core"), ("launch", "models")}


def test_no_cycle_between_layers() -> None:
    cycles = layer_cycles(repo_graph())
    assert not cycles, "layers import each other (a cycle):\n  " + "\n  ".join(describe_cycle(cycle) for cycle in cycles)


def test_core_imports_nothing_outside_core() -> None:
    leaks = core_leaks(repo_graph())
    assert not leaks, f"msvg_bench.core must import only msvg_bench.core:\n  {_listing(leaks, located=True)}"


def test_root_package_imports_nothing() -> None:
    """`msvg_bench/__init__.py` is imported by everyone, so it must stay a leaf."""
    own = [edge for edge in repo_graph() if edge.importer == PACKAGE]
    assert not own, f"msvg_bench/__init__.py must not import the package:\n  {_listing(own, located=True)}"


def test_layers_import_only_lower_layers() -> None:
    violations = layer_violations(repo_graph())
    assert not violations, f"layer order is {' < '.join(LAYERS)}; these imports point up the order:\n  {_listing(violations)}"


def test_no_import_cycle_between_modules() -> None:
    """Modules that import each other only load in one order (a function-level import hides the cycle
    until both imports move to the top); each cycle is listed with its imports."""
    cycles = module_cycles(repo_graph())
    described = ["\n    ".join(edge.located() for edge in cycle) for cycle in cycles]
    assert not cycles, "modules import each other (break the cycle):\n  " + "\n  ".join(described)


def test_the_docs_narrow_layer_claims_hold() -> None:
    """Each "**A → B**: only X" line of docs/architecture.md names every route from layer A to layer B."""
    text = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    claims = doc_claims(text, setup_roots())
    assert {(c.source, c.target) for c in claims} >= {("models", "eval"), ("launch", "eval"), ("launch", "app"), ("eval", "app")}
    broken = {claim.text: claim_violations(claim, repo_graph()) for claim in claims}
    broken = {text: found for text, found in broken.items() if found}
    assert not broken, "\n".join(f"{text}\n  but:\n  {_listing(found, located=True)}" for text, found in broken.items())


# --- the checks themselves can fail --------------------------------------------------------------


def _edge(importer: str, imported: str, line: int = 1) -> Import:
    return Import(importer, importer.replace(".", "/") + ".py", line, imported)


def test_checks_report_synthetic_violations() -> None:
    graph = [
        _edge("msvg_bench.models.pipelines", "msvg_bench.core.errors"),
        _edge("msvg_bench.eval.metrics.base", "msvg_bench.models.methods", line=7),
        _edge("msvg_bench.models.precompute", "msvg_bench.eval.encoders", line=12),
        _edge("msvg_bench.core.tracking", "msvg_bench.config", line=3),
        _edge("msvg_bench.core.tracking", "msvg_bench"),
    ]
    assert [str(v) for v in layer_violations(graph)] == [
        "msvg_bench.core.tracking:3 -> msvg_bench.config",
        "msvg_bench.eval.metrics.base:7 -> msvg_bench.models.methods",
    ]
    assert [str(v) for v in core_leaks(graph)] == ["msvg_bench.core.tracking:3 -> msvg_bench.config"]
    cycles = layer_cycles(graph)
    assert [sorted(cycle) for cycle in cycles] == [[("eval", "models"), ("models", "eval")]]
    message = describe_cycle(cycles[0])
    assert message.startswith("eval -> models (1 import(s))  <- up the layer order:")
    assert "msvg_bench.eval.metrics.base:7 -> msvg_bench.models.methods (msvg_bench/eval/metrics/base.py:7)" in message
    assert "msvg_bench.models.precompute:12 -> msvg_bench.eval.encoders (msvg_bench/models/precompute.py:12)" in message
    clean = [graph[0], graph[2], graph[4]]
    assert layer_violations(clean) == [] and core_leaks(clean) == [] and layer_cycles(clean) == []


def test_scanner_resolves_relative_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """Relative and function-level imports count; `if TYPE_CHECKING:` imports do not."""
    (tmp_path / "eval" / "metrics").mkdir(parents=True)
    (tmp_path / "models").mkdir()
    (tmp_path / "harness").mkdir()
    for init in ("harness", "eval", "eval/metrics", "models"):
        (tmp_path / init / "__init__.py").write_text("")
    (tmp_path / "harness" / "config.py").write_text("")
    (tmp_path / "models" / "pipelines.py").write_text("")
    (tmp_path / "eval" / "metrics" / "__init__.py").write_text("from . import base\nfrom .. import runner\n")
    (tmp_path / "eval" / "runner.py").write_text("")
    (tmp_path / "eval" / "metrics" / "base.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from msvg_bench.config import Config\n"
        "else:\n"
        "    import msvg_bench.eval.runner\n"
        "from ..runner import x\n"
        "def f():\n"
        "    from msvg_bench.models import pipelines\n"
        "LAZY = 'msvg_bench.models.pipelines:run'\n"
    )
    roots = {"msvg_bench": "harness", "msvg_bench.eval": "eval", "msvg_bench.models": "models"}
    found = {(edge.importer, edge.line, edge.imported) for edge in build_graph(tmp_path, roots)}
    assert found == {
        ("msvg_bench.eval.metrics", 1, "msvg_bench.eval.metrics.base"),
        ("msvg_bench.eval.metrics", 2, "msvg_bench.eval.runner"),
        ("msvg_bench.eval.metrics.base", 5, "msvg_bench.eval.runner"),
        ("msvg_bench.eval.metrics.base", 6, "msvg_bench.eval.runner"),
        ("msvg_bench.eval.metrics.base", 8, "msvg_bench.models.pipelines"),
        ("msvg_bench.eval.metrics.base", 9, "msvg_bench.models.pipelines"),
    }
    violations = [str(edge) for edge in layer_violations(build_graph(tmp_path, roots))]
    assert violations == [
        "msvg_bench.eval.metrics.base:8 -> msvg_bench.models.pipelines",
        "msvg_bench.eval.metrics.base:9 -> msvg_bench.models.pipelines",
    ]


def test_module_cycle_check_reports_each_cycle() -> None:
    graph = [
        _edge("msvg_bench.launch.trainer", "msvg_bench.launch.train_loop", line=5),
        _edge("msvg_bench.launch.train_loop", "msvg_bench.launch.trainer", line=9),
        _edge("msvg_bench.launch.train_loop", "msvg_bench.core.errors", line=3),
        _edge("msvg_bench.models.methods", "msvg_bench.models.methods.base", line=3),
        _edge("msvg_bench.models.methods.base", "msvg_bench.models.methods", line=40),
    ]
    cycles = [[str(edge) for edge in cycle] for cycle in module_cycles(graph)]
    assert cycles == [
        ["msvg_bench.launch.train_loop:9 -> msvg_bench.launch.trainer", "msvg_bench.launch.trainer:5 -> msvg_bench.launch.train_loop"],
        ["msvg_bench.models.methods.base:40 -> msvg_bench.models.methods", "msvg_bench.models.methods:3 -> msvg_bench.models.methods.base"],
    ]
    assert module_cycles([graph[0], graph[2], graph[3]]) == []


def test_claims_are_read_from_the_doc_and_checked() -> None:
    roots = {"msvg_bench": "harness", "msvg_bench.eval": "eval", "msvg_bench.launch": "launch", "msvg_bench.models": "models"}
    text = (
        "- **models → eval**: only `eval/encoders`. `models/precompute.py` calls it.\n"
        "- **launch → eval**: only the world recipes (`launch/recipe_world.py`), which train.\n"
        "- **launch/eval → app**: only under `if TYPE_CHECKING:`, for the `Config` type hint.\n"
    )
    claims = doc_claims(text, roots)
    assert [(c.source, c.target, c.through) for c in claims] == [
        ("models", "eval", ("msvg_bench.eval.encoders",)),
        ("launch", "eval", ("msvg_bench.launch.recipe_world",)),
        ("launch", "app", ()),
        ("eval", "app", ()),
    ]
    graph = [
        _edge("msvg_bench.models.precompute", "msvg_bench.eval.encoders.base"),
        _edge("msvg_bench.launch.recipe_world", "msvg_bench.eval.encoders.world"),
        _edge("msvg_bench.launch.region_weights", "msvg_bench.eval.inputs", line=76),
        _edge("msvg_bench.eval.runner", "msvg_bench.config", line=4),
    ]
    assert [str(v) for c in claims for v in claim_violations(c, graph)] == [
        "msvg_bench.launch.region_weights:76 -> msvg_bench.eval.inputs",
        "msvg_bench.eval.runner:4 -> msvg_bench.config",
    ]

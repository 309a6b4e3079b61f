"""Layers below the app receive only the config sections they read (docs/architecture.md, section 1).

Read from the source files with `ast` (nothing is imported), like `test_architecture.py`: no module
of core, benchmarks, eval, models or launch refers to the top-level `Config` (`msvg_bench.config`,
the app's composition of the sections), neither by importing it (under `if TYPE_CHECKING:` included)
nor by naming it in an annotation; and no parameter named `config`, `cfg` or `*_cfg` is annotated
`Any` or `object`, which would hide which section it is. A function takes its section
(`ModelConfig`, `EvalConfig`, ...) or a small typed object (`GenerationSettings`, `ScoringSettings`,
`TrainSetup`, `TrainJob`, `ConfigRecord`) that the app layer builds from the `Config`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from test_architecture import REPO_ROOT, layer_of, module_files, setup_roots

TOP_CONFIG_MODULE = "msvg_bench.config"
"""The app module that defines the top-level `Config`."""

TOP_CONFIG_NAME = "Config"
CONFIG_PARAM = re.compile(r"^(config|cfg|\w+_cfg)$")
"""Parameter names that stand for a configuration."""

OPAQUE = {"Any", "typing.Any", "object", "Any | None", "None | Any", "Optional[Any]", "typing.Optional[typing.Any]"}
"""Annotations that say nothing about which section a config parameter is."""


@dataclass(frozen=True)
class Finding:
    """One reference to the top-level config, or one opaque config parameter, at `path:line`."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _annotation_names(node: ast.expr) -> set[str]:
    """Every name an annotation uses, string annotations (`"Config"`) parsed too."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                names |= _annotation_names(ast.parse(sub.value, mode="eval").body)
            except SyntaxError:
                continue
    return names


def _text(node: ast.expr) -> str:
    """An annotation as source text, a string annotation unquoted."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip()
    return ast.unparse(node)


def _imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names (`from pkg import sub` also as `pkg.sub`)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base_parts = module.split(".") if is_package else module.split(".")[:-1]
        base_parts = base_parts[: len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
        base = ".".join([*base_parts, node.module] if node.module else base_parts)
    else:
        base = node.module or ""
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def section_findings(module: str, path: Path, repo_root: Path = REPO_ROOT) -> list[Finding]:
    """What in `module` (source `path`) refers to the top-level `Config` or hides a config as `Any`."""
    rel = path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else str(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if TOP_CONFIG_MODULE in _imported_modules(node, module, path.name == "__init__.py"):
                found.append(Finding(rel, node.lineno, f"imports {TOP_CONFIG_MODULE}"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p is not None)]
            annotated = [(p.arg, p.annotation) for p in params if p.annotation is not None]
            if node.returns is not None:
                annotated.append(("return", node.returns))
            for name, annotation in annotated:
                if TOP_CONFIG_NAME in _annotation_names(annotation):
                    found.append(Finding(rel, node.lineno, f"{node.name}({name}: {_text(annotation)}) names the top-level Config"))
                elif name != "return" and CONFIG_PARAM.match(name) and _text(annotation) in OPAQUE:
                    found.append(Finding(rel, node.lineno, f"{node.name}({name}: {_text(annotation)}) hides which config section"))
        elif isinstance(node, ast.AnnAssign):
            target = node.target.id if isinstance(node.target, ast.Name) else ast.unparse(node.target)
            if TOP_CONFIG_NAME in _annotation_names(node.annotation):
                found.append(Finding(rel, node.lineno, f"{target}: {_text(node.annotation)} names the top-level Config"))
            elif CONFIG_PARAM.match(target.rpartition(".")[2]) and _text(node.annotation) in OPAQUE:
                found.append(Finding(rel, node.lineno, f"{target}: {_text(node.annotation)} hides which config section"))
    return found


def lower_layer_findings(repo_root: Path = REPO_ROOT, roots: Mapping[str, str] | None = None) -> list[Finding]:
    """`section_findings` of every module below the app layer."""
    modules = module_files(repo_root, setup_roots(repo_root) if roots is None else roots)
    return [
        finding
        for name, path in modules.items()
        if layer_of(name) not in (None, "app")
        for finding in section_findings(name, path, repo_root)
    ]


def _listing(findings: Iterable[Finding], limit: int = 40) -> str:
    items = [str(f) for f in findings]
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return "\n  " + "\n  ".join(items[:limit]) + more


def test_lower_layers_receive_sections_not_the_top_level_config() -> None:
    findings = lower_layer_findings()
    assert not findings, (
        f"{len(findings)} place(s) below the app layer refer to the top-level Config or type a config as Any: "
        "take the section read (ModelConfig, EvalConfig, ...) or a small typed object built by the app layer"
        + _listing(findings)
    )


def test_the_check_finds_each_kind_of_violation(tmp_path: Path) -> None:
    """A lower-layer module with every forbidden form is reported once per form; an app module is not."""
    (tmp_path / "setup.py").write_text("ROOTS = {'msvg_bench.models': 'models', 'msvg_bench': 'app'}\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "models" / "bad.py").write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING, Any\n"
        "if TYPE_CHECKING:\n"
        "    from msvg_bench.config import Config\n"  # 4: the import, even for typing only
        "def a(config: Config) -> None: ...\n"  # 5
        "def b(x: int, *, cfg: 'Config | None' = None) -> None: ...\n"  # 6: a string annotation
        "def c() -> list[Config]: ...\n"  # 7: a return annotation
        "def d(model_cfg: Any) -> None: ...\n"  # 8
        "def e(config: object) -> None: ...\n"  # 9
        "class Job:\n"
        "    config: Any\n"  # 11
        "def fine(model_cfg: ModelConfig, config: TrainSetup, settings: Any, ds_config: Any) -> ModelConfig: ...\n"
    )
    (tmp_path / "models" / "rel.py").write_text("from .. import config\n")  # the app module, relatively
    (tmp_path / "app" / "config.py").write_text("class Config: ...\ndef f(cfg: Any, config: Config) -> None: ...\n")
    found = lower_layer_findings(tmp_path)
    assert sorted((f.path, f.line) for f in found) == [
        ("models/bad.py", 4), ("models/bad.py", 5), ("models/bad.py", 6), ("models/bad.py", 7), ("models/bad.py", 8),
        ("models/bad.py", 9), ("models/bad.py", 11), ("models/rel.py", 1),
    ]
    assert "models/bad.py:8: d(model_cfg: Any) hides which config section" in {str(f) for f in found}


def test_no_module_hides_a_config_as_any() -> None:
    """The app layer may take the whole `Config`, but says so: no config parameter anywhere is `Any`."""
    modules = module_files(REPO_ROOT, setup_roots(REPO_ROOT))
    findings = [f for name, path in modules.items() for f in section_findings(name, path) if "hides" in f.what]
    assert not findings, f"{len(findings)} config parameter(s) typed Any/object" + _listing(findings)

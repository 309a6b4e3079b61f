"""Commands are found, not listed: a `*_cmd` module is a command, and the help shows it in its section."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer
from msvg_bench.cli import PANELS, PanelOrderedGroup, app, command_modules
from typer.testing import CliRunner

COMMAND = '''
import typer


def register(app: typer.Typer) -> None:
    """Add `{name}` to `app`."""
    app.command("{name}", rich_help_panel="{panel}")(lambda: None)
'''


@pytest.fixture()
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package of three command modules (one in a section the CLI does not know) and a helper module."""
    package = tmp_path / "toy_commands"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, name, panel in [("zeta_cmd", "zeta", "Quick start"), ("alpha_cmd", "alpha", "Extras"),
                                ("beta_cmd", "beta", "Reports")]:
        (package / f"{module}.py").write_text(COMMAND.format(name=name, panel=panel))
    (package / "helpers.py").write_text("raise RuntimeError('not a command module: never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "toy_commands"
    for name in [m for m in sys.modules if m.startswith("toy_commands")]:
        del sys.modules[name]


def _listed(cli: typer.Typer) -> list[str]:
    """The command names in the order `--help` shows them (checked against the rendered help)."""
    group = typer.main.get_command(cli)
    names = group.list_commands(typer.Context(group))
    text = CliRunner().invoke(cli, ["--help"], terminal_width=100).output
    positions = [text.index(f"│ {name} ") for name in names]
    assert positions == sorted(positions), text
    return names


def test_a_new_command_module_is_found_and_shown_in_its_section(toy_package: str) -> None:
    modules = command_modules(toy_package)
    assert [m.__name__ for m in modules] == [f"{toy_package}.{n}" for n in ("alpha_cmd", "beta_cmd", "zeta_cmd")]
    toy = typer.Typer(cls=PanelOrderedGroup, rich_markup_mode="rich")
    toy.callback()(lambda: None)
    for module in modules:
        module.register(toy)
    # sections in PANELS order whatever the module order; an unknown section comes last
    assert _listed(toy) == ["zeta", "beta", "alpha"]


def test_the_cli_registers_every_command_module_section_by_section() -> None:
    listed = _listed(app)
    registered = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(listed) == sorted(registered) and len(command_modules()) >= 11
    panels = {c.name: c.rich_help_panel for c in app.registered_commands} | {g.name: g.rich_help_panel for g in app.registered_groups}
    assert all(panels[name] in PANELS for name in listed)
    assert [PANELS.index(panels[name]) for name in listed] == sorted(PANELS.index(panels[name]) for name in listed)

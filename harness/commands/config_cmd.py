"""`msvg-bench config`: resolve and print a configuration."""

from __future__ import annotations

import typer
from msvg_bench.cli_options import (
    ConfigFileOption,
    OverridesArgument,
    PresetOption,
    SeedOption,
    load_config,
    print_config,
)


def config(
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    seed: SeedOption = None,
) -> None:
    """Resolve a configuration (preset < file < key=value < flags), validate it, print it with its hash."""
    print_config(load_config(config_file, overrides, {"preset": preset, "seed": seed}))


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("config", rich_help_panel="Utilities")(config)

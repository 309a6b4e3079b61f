"""Options shared by commands (config file, preset, overrides, tracking) and config resolution."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from msvg_bench.presets import preset_names

if TYPE_CHECKING:
    from msvg_bench.config import Config

CONFIG_PANEL = "Configuration"
TRACKING_PANEL = "Tracking"

ConfigFileOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file.", rich_help_panel=CONFIG_PANEL)
]
PresetOption = Annotated[
    str | None,
    typer.Option("--preset", help=f"Named preset: {' | '.join(preset_names())}.", rich_help_panel=CONFIG_PANEL),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Global seed.", rich_help_panel=CONFIG_PANEL)]
PrintConfigOption = Annotated[
    bool, typer.Option("--print-config", help="Print the resolved config and exit.", rich_help_panel=CONFIG_PANEL)
]
OverridesArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Config overrides as dotted key=value (e.g. train.steps=10).", show_default=False),
]
TrackingUriOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db).",
        rich_help_panel=TRACKING_PANEL,
    ),
]
RunNameOption = Annotated[
    str | None, typer.Option("--run-name", help="MLflow run name.", rich_help_panel=TRACKING_PANEL)
]


def load_config(config_file: Path | None, overrides: list[str] | None, flags: dict[str, Any]) -> Config:
    """Resolve preset < file < overrides < flags (flags given as dotted keys; None means unset)."""
    from msvg_bench.config import resolve_config

    return resolve_config(config_file, overrides or [], flags)


def comma_list(text: str | None) -> list[str] | None:
    """`a, b,c` -> ["a", "b", "c"] (None when empty)."""
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def comma_ints(text: str | None) -> list[int] | None:
    """`49,49,49` -> [49, 49, 49] (None when empty); a non-number is a one-line `--scene-lengths` error."""
    if not text:
        return None
    from msvg_bench.core.errors import ConfigError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--scene-lengths {text!r}: expected comma-separated frame counts, e.g. 49,49,49") from None


def print_config(config: Config) -> None:
    """Print the resolved config as YAML followed by its hash."""
    from msvg_bench.core.schema import config_hash, config_to_yaml

    typer.echo(config_to_yaml(config), nl=False)
    typer.echo(f"# config_hash: {config_hash(config)}")

"""`msvg-bench info`: versions, devices and where runs are tracked."""

from __future__ import annotations

import typer
from msvg_bench.cli_options import TrackingUriOption


def info(tracking_uri: TrackingUriOption = None) -> None:
    """Show the library versions that change results (OpenCV: which distribution, HOG or not), the accelerator,
    which weights and detectors are available here, presets, and the tracking store."""
    from msvg_bench import __version__
    from msvg_bench.config import PRESETS
    from msvg_bench.core.mlflow_store import resolve_tracking_uri
    from msvg_bench.doctor import detectors_status, library_versions, opencv_line, weights_status
    from msvg_bench.models.families import families
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"msvg-bench {__version__}", show_header=False)
    for package, version in library_versions():
        table.add_row(package, version)
    table.add_row("opencv", opencv_line())
    import torch

    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    table.add_row("accelerator", device)
    table.add_row("presets", ", ".join(PRESETS.names()))
    table.add_row(
        "model families",
        ", ".join(f"{family.name} ({family.title}, {family.positional_embedding})" for family in families()),
    )
    table.add_row("tracking uri", resolve_tracking_uri(tracking_uri))
    table.add_section()
    for component, status in weights_status():
        table.add_row(f"weights: {component}", status)
    table.add_section()
    for name, status in detectors_status():
        table.add_row(f"detector: {name}", status)
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("info", rich_help_panel="Utilities")(info)

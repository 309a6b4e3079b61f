"""The `msvg-bench` command line. Only typer/click load at start-up; commands import the rest.

Exit codes: 0 success, 1 failure (one line on stderr; a traceback with --debug), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from types import ModuleType
from typing import Annotated

import typer
from typer.core import TyperGroup

try:  # recent typer vendors click; its exceptions are not click's own
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException as _ClickException

from msvg_bench import __version__
from msvg_bench.core.errors import MsvgError, ProblemsError

HELP = """Train, generate, evaluate and compare multi-scene story video models.

[bold]Quick start[/] in a project folder (./data, ./runs, ./mlflow.db):

  [cyan]msvg-bench data synth --out data[/]      story data (or: data prepare)

  [cyan]msvg-bench train --zero 2[/]             train on ./data with ZeRO-2

  [cyan]msvg-bench eval --suite synthetic[/]     score the newest trained model

  [cyan]msvg-bench compare --suite synthetic[/]  compare vs the plain baseline

(score the baseline first: [cyan]eval --suite synthetic --method plain[/]);
[cyan]msvg-bench demo[/] runs the whole loop at once.
"""

# The help's sections, in this order; a command names its section (`rich_help_panel`) where it registers.
PANELS: tuple[str, ...] = ("Quick start", "Data", "Training", "Generation", "Evaluation", "Reports", "Utilities")


class PanelOrderedGroup(TyperGroup):
    """Lists commands section by section (`PANELS` order, unknown sections last), in registration order
    within a section."""

    def list_commands(self, ctx) -> list[str]:  # noqa: ANN001 - click's own signature
        """Command names ordered by their help section."""
        rank = {panel: i for i, panel in enumerate(PANELS)}
        return sorted(super().list_commands(ctx),
                      key=lambda name: rank.get(getattr(self.commands[name], "rich_help_panel", None), len(PANELS)))


app = typer.Typer(
    name="msvg-bench",
    cls=PanelOrderedGroup,
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_STATE = {"debug": False}


def _hide_flag_types() -> None:
    """Show no `<bool>` type column for on/off flags in `--help` (typer prints one for every option)."""
    option_class = getattr(getattr(typer, "core", None), "TyperOption", None)
    original = getattr(option_class, "display_type_rich", None)
    if original is None or getattr(original, "_msvg_flags_hidden", False):
        return

    def display_type_rich(self, ctx):  # noqa: ANN001, ANN202 - typer's own signature
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    display_type_rich._msvg_flags_hidden = True  # type: ignore[attr-defined]
    option_class.display_type_rich = display_type_rich


_hide_flag_types()

def command_modules(package: str = "msvg_bench.commands") -> list[ModuleType]:
    """Every `*_cmd` module of `package`, by name: adding a command is adding one such module, which
    exposes `register(app)` and imports heavy libraries only inside its commands."""
    found = importlib.import_module(package)
    names = sorted(info.name for info in pkgutil.iter_modules(found.__path__) if info.name.endswith("_cmd"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"msvg-bench {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on failure.")] = False,
) -> None:
    """Train, generate, evaluate and compare multi-scene story video models."""
    _STATE["debug"] = debug


for _module in command_modules():
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console-script entry point)."""
    args = list(sys.argv[1:] if argv is None else argv)
    _STATE["debug"] = "--debug" in args
    try:
        result = app(args=args, prog_name="msvg-bench", standalone_mode=False)
    except _ClickException as exc:
        exc.show()
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    except MsvgError as exc:
        if _STATE["debug"]:
            traceback.print_exc()
        if isinstance(exc, ProblemsError):
            head, *rest = exc.lines()
            typer.echo(f"error: {head}", err=True)
            for line in rest:
                typer.echo(_one_line(line), err=True)
        else:
            typer.echo(f"error: {_one_line(str(exc))}", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if _STATE["debug"]:
            traceback.print_exc()
            typer.echo(f"error: {type(exc).__name__}: {_one_line(str(exc))}", err=True)
        else:
            typer.echo(
                f"error: {type(exc).__name__}: {_one_line(str(exc))} (run with --debug for the traceback)", err=True
            )
        return 1
    except BaseException as exc:
        from msvg_bench.core.tracking import Terminated

        if not isinstance(exc, Terminated):
            raise
        typer.echo("interrupted (SIGTERM)", err=True)
        return 143
    return result if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


if __name__ == "__main__":
    sys.exit(main())

"""YAML without aliases: the safe loader refusing them, the safe dumper never writing them.

`yaml.safe_load` runs no code, but it expands aliases: a few hundred bytes of nested `&a [*b, *b, ...]`
anchors (an "alias bomb") stand for billions of nodes once a config is copied, hashed or printed.
Configs never need aliases, so `load_yaml` refuses them: the error is a `yaml.YAMLError` whose
`problem_mark` gives the line, like any other syntax error. `dump_yaml` writes repeated values out
in full, so what the project writes (resolved configs) always loads back.
"""

from __future__ import annotations

from typing import Any

import yaml


class NoAliasSafeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that raises on any alias (`*name`, including `<<: *name` merges)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose the next node, refusing an alias before it is resolved."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Parse YAML `text` with the safe loader, refusing aliases (`yaml.YAMLError` on either problem)."""
    return yaml.load(text, Loader=NoAliasSafeLoader)  # noqa: S506 - a SafeLoader subclass


class NoAliasSafeDumper(yaml.SafeDumper):
    """`yaml.SafeDumper` that writes a value seen twice in full instead of as an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        """Always: no anchors, no aliases."""
        return True


def dump_yaml(data: Any, sort_keys: bool = False) -> str:
    """`data` as YAML text that `load_yaml` reads back (no aliases)."""
    return yaml.dump(data, Dumper=NoAliasSafeDumper, sort_keys=sort_keys)

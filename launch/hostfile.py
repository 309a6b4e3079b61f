"""DeepSpeed-style hostfiles (`<host> slots=<n>` per line) and which entry is this machine."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from msvg_bench.core.errors import ConfigError

LINE = re.compile(r"^(?P<host>[A-Za-z0-9_.:\-\[\]]+)(?:\s+slots\s*=\s*(?P<slots>\S+))?$")


@dataclass(frozen=True)
class Host:
    """One node of a hostfile."""

    name: str
    slots: int


def parse_hostfile(path: Path) -> list[Host]:
    """Read `path`; comments (`#`) and blank lines are skipped. One-line errors name file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: hostfile not found")
    hosts: list[Host] = []
    seen: set[str] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        match = LINE.match(text)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected '<host> slots=<n>', got {text!r}")
        slots_text = match.group("slots")
        try:
            slots = int(slots_text) if slots_text is not None else 1
        except ValueError:
            raise ConfigError(f"{path}:{number}: slots must be a positive integer, got {slots_text!r}") from None
        if slots < 1:
            raise ConfigError(f"{path}:{number}: slots must be a positive integer, got {slots}")
        name = match.group("host")
        if name in seen:
            raise ConfigError(f"{path}:{number}: host {name!r} is listed twice")
        seen.add(name)
        hosts.append(Host(name, slots))
    if not hosts:
        raise ConfigError(f"{path}: hostfile lists no hosts")
    return hosts


def resolve_host(name: str, path: Path) -> set[str]:
    """The IP addresses of `name` (one-line error naming the hostfile when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(name, None)
    except socket.gaierror as exc:
        raise ConfigError(f"{path}: host {name!r} does not resolve ({exc.strerror})") from None
    return {info[4][0] for info in infos}


def local_addresses() -> set[str]:
    """Names and addresses this machine answers to."""
    names = {socket.gethostname(), socket.getfqdn(), "localhost"}
    addresses = set(names)
    for name in names:
        try:
            addresses |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except socket.gaierror:
            continue
    return addresses | {"127.0.0.1", "::1"}


def this_node_rank(hosts: list[Host], path: Path) -> int:
    """The index of this machine in `hosts` (by name or address); error when it is not listed."""
    mine = local_addresses()
    for index, host in enumerate(hosts):
        if host.name in mine or resolve_host(host.name, path) & mine:
            return index
    raise ConfigError(
        f"{path}: this machine ({socket.gethostname()}) is not in the hostfile; pass --node-rank to say which entry it is"
    )

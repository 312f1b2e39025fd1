"""The package's structure, checked: no import cycles (counting imports under
TYPE_CHECKING and inside functions too), and each I/O library imported only by its
adapter (DEVELOPERS.md: "the only place an I/O library is imported is its adapter")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "daemon" / "herald"

# library -> the modules allowed to import it
ADAPTERS = {
    "paho": {"herald.mqtt.driver", "herald.mqtt.client"},
    "trio_websocket": {"herald.cartesia.ws_adapter"},
    "alsaaudio": {"herald.audio.alsa_sink"},
    "gpiozero": {"herald.buttons.gpio"},
    "piper": {"herald.local_voice.piper"},
    "httpx2": {"herald.cartesia.rest"},
    "zeroconf": {"herald.esphome.mdns"},
    "noise": {"herald.esphome.noise"},
}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_import_cycles() -> None:
    mods = modules()
    graph = {m: {t for t in imported(tree) if t in mods and t != m} for m, tree in mods.items()}
    # Depth-first search for a back edge; report the cycle it closes.
    state: dict[str, int] = {}
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_each_io_library_is_imported_only_by_its_adapter() -> None:
    wrong = []
    for name, tree in modules().items():
        for target in imported(tree):
            library = target.split(".")[0]
            allowed = ADAPTERS.get(library)
            if allowed is not None and name not in allowed:
                wrong.append(f"{name} imports {target}")
    assert wrong == []

"""The package's modules import one another without a cycle.

Every import counts, the ones inside functions and under ``TYPE_CHECKING`` too: a
cycle hidden in a function is still two modules that cannot be read, changed or
tested apart.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import voiceclone

PACKAGE = Path(voiceclone.__file__).parent


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules that the module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
            if not node.level:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield submodule if submodule in known else target
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_no_module_of_the_package_imports_itself_back() -> None:
    known = modules()
    graph = {
        name: {t for t in imported(name, path, known) if t in known and t != name}
        for name, path in known.items()
    }
    # Kept apart: the package imports its modules, and the command's modules import
    # the package's public names; a cycle among the rest is what is looked for.
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for following in graph[node] - {"voiceclone"}:
                if following == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif following not in seen:
                    seen.add(following)
                    stack.append((following, [*trail, following]))
    assert not cycles, "\n".join(cycles[:10])
    assert len(graph) > 50  # the walk saw the whole package


def test_a_client_without_redis_runs_no_redis_gate_code() -> None:
    # A fresh interpreter: this one has imported everything already.
    script = (
        "import asyncio, sys, voiceclone\n"
        "c = voiceclone.Client('k', 'http://127.0.0.1:9/v1', redis=False)\n"
        "asyncio.run(c.aclose())\n"
        "print(sorted(m for m in sys.modules if m.startswith('voiceclone._redis._gate')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "VOICECLONE_REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[]"
    assert (
        type(voiceclone.Client("k", redis=False)._gates["clone"]).__module__ == "voiceclone._pacing"
    )


#: The package's layers, lowest first, as docs/architecture.md draws them: a module
#: imports from its own layer or below, never above.
LAYERS = (
    # the ground: versions, errors, safe text, asyncio helpers, audio, input checks
    ("_version", "_text", "_aio", "_audio", "_samples", "_errors", "_validate"),
    # values and rules, no I/O: models, requests, answers, retry policy, options,
    # pace, account breaker, hooks' events, journal lines
    (
        "_models", "_request", "_answers", "_parse", "_retry", "_config", "_pacing",
        "_breaker", "_events", "_files", "_journal_lines", "_job_journal", "_speech",
        "_speech_stream",
    ),
    # I/O: HTTP, telemetry, the file journal, Redis (gate, journal, their Lua)
    ("_transport", "_otel", "_journal", "_redis"),
    # the client and what runs many calls
    ("_client", "_batch", "_job_checks", "_jobs"),
    # what is built on the client: the blocking client, the public names, the emulator
    ("_sync", "", "samples", "emulator"),
    # the command and the pytest plugin (both run the emulator)
    ("cli", "_cli", "testing"),
)  # fmt: skip


def layer(module: str) -> int:
    """The layer of ``voiceclone.<name>`` (a subpackage's modules share its layer)."""
    name = module.removeprefix("voiceclone").removeprefix(".")
    top = name.split(".")[0]
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    known = modules()
    upward = [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, path in known.items()
        for target in imported(name, path, known)
        if target in known and layer(target) > layer(name)
    ]
    assert not upward, "\n".join(upward)
    assert {layer(name) for name in known} == set(range(len(LAYERS)))

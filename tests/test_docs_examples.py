"""Every Python example in the docs and the README runs, against the emulator.

Each fenced ```` ```python ```` block is one of three kinds:

* a **script** (the default): run as a program in a fresh directory holding sample
  audio (``narrator.wav``, ``prompt.wav``, ``samples/0.wav`` ...), with
  ``MINIMAX_API_KEY`` / ``MINIMAX_BASE_URL`` pointing at an emulator account of its
  own. If the block is followed by a line ``prints`` and a ```` ```text ```` block,
  the script's output must be exactly that text.
* a **test file**: a block titled ``title="test_....py"`` is run with pytest, so the
  plugin's fixtures are what it gets, under the ``pyproject.toml`` settings that
  docs/testing.md shows users, with every warning an error.
* a **fragment**: marked with ``<!-- fragment -->`` on the line before the fence;
  not run. Fragments are counted, so none can appear unnoticed.

The one liberty taken: examples ask for MiniMax's real pace (60 clones a minute),
which would make this suite take minutes, so every client in a script is paced at
`TEST_REQUESTS_PER_MINUTE`. Everything else runs as written.

The scripts run in subprocesses, a few at a time (each gets its own event loop, as
a user's program would), and each test then checks one of them.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest

from voiceclone.emulator import Emulator
from voiceclone.testing import TEST_REQUESTS_PER_MINUTE, sample_wav

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
#: Blocks marked as fragments, per file: raise it only for a snippet that cannot run.
EXPECTED_FRAGMENTS: dict[str, int] = {
    # Need Redis and worker processes: run by tests/test_many_workers_recipes.py.
    "many-workers.md": 5,
}
SAMPLES = 200
#: Seconds one example may take (they take about one).
TIMEOUT = 60.0
#: Examples running at once: a few per core keeps the cores busy while some wait on
#: the emulator, without 35 interpreters starting together on a small machine.
AT_ONCE = 2 * (os.cpu_count() or 1)

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>.*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')

_PYPROJECT = re.compile(r"```toml\n(# pyproject\.toml\n.*?)```", re.DOTALL)


def _users_pyproject() -> str:
    """The pytest settings docs/testing.md tells users to put in their pyproject.toml."""
    (text,) = _PYPROJECT.findall((ROOT / "docs" / "testing.md").read_text(encoding="utf-8"))
    return str(text)


# Runs a script with every client paced for tests (see the module docstring).
_PREAMBLE = f"""
import runpy, sys
import voiceclone
_init = voiceclone.Client.__init__
def _fast(self, *args, **kwargs):
    kwargs["requests_per_minute"] = {TEST_REQUESTS_PER_MINUTE}
    _init(self, *args, **kwargs)
voiceclone.Client.__init__ = _fast
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@attrs.frozen
class Block:
    source: Path
    line: int
    code: str
    kind: str  # "script", "test" or "fragment"
    title: str | None = None
    expected: str | None = None

    @property
    def id(self) -> str:
        return f"{self.source.name}:{self.line}"


def _blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    pending: Block | None = None  # a python block, until we know whether output follows
    saw_prints = False
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            if pending is not None and lines[i].strip() == "prints":
                saw_prints = True
            elif pending is not None and lines[i].strip():
                yield pending
                pending = None
            i += 1
            continue
        start, fence, info = i, match["fence"], match["info"].strip()
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][len(match["indent"]) :])
            i += 1
        i += 1
        text = "\n".join(body) + "\n"
        language = info.split(" ", 1)[0]
        if pending is not None:
            expects = language == "text" and saw_prints
            yield attrs.evolve(pending, expected=text) if expects else pending
            pending = None
        saw_prints = False
        if language != "python":
            continue
        title_match = _TITLE.search(info)
        title = title_match["title"] if title_match else None
        before = lines[start - 1].strip() if start else ""
        if before == "<!-- fragment -->":
            kind = "fragment"
        elif title and title.startswith("test_") and title.endswith(".py"):
            kind = "test"
        else:
            kind = "script"
        pending = Block(path, start + 1, text, kind, title)
    if pending is not None:
        yield pending


BLOCKS = [block for source in SOURCES for block in _blocks(source)]
RUNNABLE = [block for block in BLOCKS if block.kind != "fragment"]


@attrs.frozen
class Ran:
    returncode: int
    stdout: str
    stderr: str


class _EmulatorThread:
    """An emulator on its own event loop, for programs in other processes to call."""

    def __init__(self, keys: list[str]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.emulator = Emulator(keys, rpm=None)

    def __enter__(self) -> Emulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self._loop).result(10)
        return self.emulator

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _workspace(template: Path, target: Path) -> Path:
    """A directory with the sample audio, hard-linked from ``template`` (cheap)."""
    (target / "samples").mkdir(parents=True)
    for item in template.rglob("*.wav"):
        os.link(item, target / item.relative_to(template))
    return target


def _run(block: Block, key: str, emulator: Emulator, cwd: Path) -> Ran:
    """Run one example in ``cwd``: a script against ``emulator`` as ``key``, or a test file."""
    # A user's environment: no account, and not inside this suite's pytest (an xdist
    # worker's PYTEST_XDIST_WORKER would reach the example's own pytest).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIMAX_", "PYTEST_"))}
    if block.kind == "test":
        program = cwd / (block.title or "test_example.py")
        program.write_text(block.code, encoding="utf-8")
        (cwd / "pyproject.toml").write_text(_users_pyproject(), encoding="utf-8")
        # Python's own -W too: pytest's does not cover warnings raised while
        # plugins configure themselves (pytest-asyncio's unset-option warning).
        command = [
            sys.executable, "-W", "error::DeprecationWarning", "-m", "pytest", "-q",
            "-p", "no:cacheprovider", "-W", "error", program.name,
        ]  # fmt: skip
    else:
        program = cwd / "example.py"
        program.write_text(block.code, encoding="utf-8")
        env.update(MINIMAX_API_KEY=key, MINIMAX_BASE_URL=emulator.base_url)
        command = [sys.executable, "-c", _PREAMBLE, program.name]
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as expired:
        out, err = expired.stdout or "", expired.stderr or ""
        return Ran(-1, str(out), f"{err}\n(killed after {TIMEOUT:.0f} s)")
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    template = tmp_path_factory.mktemp("audio")
    (template / "samples").mkdir()
    (template / "narrator.wav").write_bytes(sample_wav(12.0))
    (template / "prompt.wav").write_bytes(sample_wav(5.0, seed=1))
    distinct = [sample_wav(10.5, pitch_hz=110.0 + 10 * n, seed=n) for n in range(4)]
    for i in range(SAMPLES):
        (template / "samples" / f"{i}.wav").write_bytes(distinct[i % len(distinct)])
    keys = [f"docs-example-key-{n}" for n in range(len(RUNNABLE))]
    with _EmulatorThread(keys) as emulator, ThreadPoolExecutor(AT_ONCE) as pool:
        futures = {
            block.id: pool.submit(
                _run, block, key, emulator, _workspace(template, tmp_path_factory.mktemp("example"))
            )
            for key, block in zip(keys, RUNNABLE, strict=True)
        }
        return {block_id: future.result() for block_id, future in futures.items()}


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_example_runs(block: Block, runs: dict[str, Ran]) -> None:
    ran = runs[block.id]
    assert ran.returncode == 0, f"{block.id} failed:\n{ran.stdout}\n{ran.stderr}"
    if block.kind == "test":
        assert re.search(r"\b[1-9]\d* passed\b", ran.stdout), ran.stdout
        assert " skipped" not in ran.stdout, ran.stdout
    else:
        assert ran.stderr == "", ran.stderr
    if block.expected is not None:
        assert ran.stdout.strip() == block.expected.strip()


def test_every_python_block_is_accounted_for() -> None:
    fragments: dict[str, int] = {}
    for block in BLOCKS:
        if block.kind == "fragment":
            fragments[block.source.name] = fragments.get(block.source.name, 0) + 1
    assert fragments == {k: v for k, v in EXPECTED_FRAGMENTS.items() if v}
    pages = {block.source.name for block in RUNNABLE}
    for page in ("index.md", "quickstart.md", "cloning.md", "batches.md", "testing.md"):
        assert page in pages
    assert any(block.kind == "test" for block in BLOCKS)
    assert sum(block.expected is not None for block in BLOCKS) >= 3


def test_the_block_parser_sees_titles_markers_and_outputs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n\n```python\nprint(1)\n```\n\nprints\n\n```text\n1\n```\n\n"
        '```python title="test_x.py"\ndef test_x(): pass\n```\n\n'
        "<!-- fragment -->\n```python\nclient.clone(...)\n```\n\n"
        "```bash\nvoiceclone demo\n```\n",
        encoding="utf-8",
    )
    found = list(_blocks(page))
    assert [(b.kind, b.title, b.expected) for b in found] == [
        ("script", None, "1\n"),
        ("test", "test_x.py", None),
        ("fragment", None, None),
    ]
    assert [b.line for b in found] == [3, 13, 18]

"""The benchmarks' figures: those the docs show exist, and ``--plot`` draws them.

The docs show figures drawn by ``bench/*.py --plot docs/figures/NAME.svg``. These
tests check that every figure a page references is there and is an SVG, that the
page says how to regenerate it, that no figure is left unreferenced, and that the
plotting path runs end to end on benchmarks small enough to take seconds.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIGURES = DOCS / "figures"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
#: Generous: a tiny benchmark takes a few seconds, more on a busy machine.
TIMEOUT = 120.0

_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<target>[^)\s]+)")
_SVG = "{http://www.w3.org/2000/svg}"


def referenced_figures() -> list[tuple[Path, Path]]:
    """(page, figure) for every image a page of the docs or the README shows."""
    found = []
    for page in PAGES:
        for match in _IMAGE.finditer(page.read_text(encoding="utf-8")):
            target = match["target"]
            if "://" not in target:
                found.append((page, (page.parent / target).resolve()))
    return found


def svg_text(path: Path) -> str:
    """All the text drawn in an SVG (matplotlib keeps text as <text> for these figures)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{_SVG}svg", f"{path} is not an SVG"
    return " ".join("".join(node.itertext()) for node in root.iter(f"{_SVG}text"))


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def load_plot_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bench_plot", ROOT / "bench" / "_plot.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up by name while building the class.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_figure_the_docs_show_exists_with_its_command() -> None:
    figures = referenced_figures()
    assert {figure.name for _, figure in figures} >= {"ratelimit.svg", "overhead.svg"}
    for page, figure in figures:
        assert figure.is_file(), f"{page.name} shows {figure}, which does not exist"
        assert svg_text(figure), f"{figure.name} has no text: not drawn by bench/_plot.py?"
        relative = figure.relative_to(ROOT).as_posix()
        words = " ".join(page.read_text(encoding="utf-8").split())
        assert f"--plot {relative}" in words, (
            f"{page.name} shows {figure.name} without the command that regenerates it"
        )


def test_no_figure_is_left_unreferenced() -> None:
    shown = {figure for _, figure in referenced_figures()}
    assert set(FIGURES.glob("*.svg")) <= shown


def test_ratelimit_plot_runs_on_a_tiny_benchmark(tmp_path: Path) -> None:
    figure = tmp_path / "ratelimit.svg"
    # A bucket larger than N: nothing is refused, so each client takes a fraction of
    # a second and the run's time is mostly three emulators starting.
    run_bench(
        "ratelimit.py", "--n", "6", "--rpm", "6000", "--burst", "50", "--latency", "0",
        "--plot", str(figure),
    )  # fmt: skip
    text = svg_text(figure)
    for panel in ("SDK told the limit", "SDK discovering it", "aiohttp + semaphore + tenacity"):
        assert panel in text
    assert text.count("6 accepted, 0 rate-limit answers") == 3
    assert "the limit" in text


def test_overhead_plot_runs_on_a_tiny_benchmark(tmp_path: Path) -> None:
    figure = tmp_path / "overhead.svg"
    result = run_bench(
        "overhead.py", "--n", "40", "--n-latency", "10", "--rounds", "1", "--plot", str(figure)
    )
    assert "client CPU ratio raw / SDK" in result.stdout
    text = svg_text(figure)
    assert "raw aiohttp" in text
    assert "SDK clone_all" in text
    # The SDK's own layers are named after its modules.
    assert "voiceclone." in text


def test_timelines_count_and_mark_rate_limit_answers(tmp_path: Path) -> None:
    plot = load_plot_module()
    paced = plot.Timeline(sent=[0.1, 0.2, 0.3], accepted=[0.2, 0.3, 0.4], refused=[])
    stormy = plot.Timeline(sent=[0.0] * 5, accepted=[0.5, 0.6], refused=[0.1, 0.1, 0.2])
    figure = tmp_path / "t.svg"
    plot.plot_timelines(
        figure, {"paced": paced, "stormy": stormy}, limit_per_s=10.0, title="two clients"
    )
    text = svg_text(figure)
    assert "paced: 3 accepted, 0 rate-limit answers" in text
    assert "stormy: 2 accepted, 3 rate-limit answers" in text
    assert "the limit" in text

    unlimited = tmp_path / "u.svg"
    plot.plot_timelines(unlimited, {"paced": paced}, limit_per_s=None, title="no limit")
    assert "the limit" not in svg_text(unlimited)


def test_the_same_data_draws_the_same_file(tmp_path: Path) -> None:
    plot = load_plot_module()
    layers = {"raw": {"aiohttp": 100.0}, "SDK": {"aiohttp": 100.0, "voiceclone._x": 20.0}}
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    plot.plot_layers(first, layers, title="layers")
    plot.plot_layers(second, layers, title="layers")
    assert first.read_bytes() == second.read_bytes()
    assert "120" in svg_text(first)  # the SDK bar's total


def test_scaleout_plot_runs_on_a_tiny_benchmark(tmp_path: Path) -> None:
    figure = tmp_path / "scaleout.svg"
    result = run_bench(
        "scaleout.py", "--workers", "2", "--n", "4", "--rpm", "6000", "--burst", "50",
        "--only", "local", "--only", "shared", "--plot", str(figure),
    )  # fmt: skip
    assert "shared gate, told R" in result.stdout
    text = svg_text(figure)
    for panel in ("per-process gates, told R", "shared gate, told R"):
        assert panel in text
    assert text.count("8 accepted, 0 rate-limit answers") == 2

"""The package layout's rules hold: dependencies go one way (serve -> Assistant -> answer /
ingest -> vectorstore; eval -> Assistant), and no module imports itself through others."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
FOUNDATION = {"qa.settings", "qa.types", "qa.errors", "qa.text", "qa.offline", "qa.safety"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every qa/vectorstore module ``path`` imports, at the top or inside a function, and
    under ``TYPE_CHECKING`` too. ``from qa.x import name`` counts as ``qa.x.name`` when that is
    a module, else ``qa.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m.split(".")[0] in {"qa", "vectorstore"}}


FILES = sorted([*(ROOT / "qa").rglob("*.py"), *(ROOT / "vectorstore").rglob("*.py")])
MODULES = {_module(f) for f in FILES}
GRAPH = {_module(f): _imports(f) - {_module(f)} for f in FILES}


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "vectorstore":
        return "vectorstore"
    if len(parts) > 1 and parts[1] in {"ingest", "answer", "serve", "eval", "integrations"}:
        return parts[1]
    if module == "qa.__main__":
        return "qa.cli"
    return module if module in {"qa.assistant", "qa.cli", "qa"} else "foundation"


# which layers each layer may import
ALLOWED = {
    "foundation": {"foundation"},
    "vectorstore": {"vectorstore"},
    "ingest": {"foundation", "ingest", "vectorstore"},
    "answer": {"foundation", "answer", "ingest", "vectorstore"},
    "integrations": {"foundation", "answer", "integrations"},
    "qa.assistant": {"foundation", "answer", "ingest", "integrations", "vectorstore"},
    "serve": {"foundation", "qa.assistant", "answer", "ingest", "serve", "vectorstore"},
    "eval": {"foundation", "qa.assistant", "answer", "ingest", "eval", "vectorstore"},
    "qa.cli": {"foundation", "qa.assistant", "qa", "qa.cli", "answer", "ingest", "serve", "eval",
               "vectorstore"},
    "qa": {"foundation", "qa.assistant", "eval", "qa.cli"},
}


def test_every_module_has_a_layer_and_the_packages_say_what_they_hold() -> None:
    assert {"qa.ingest", "qa.answer", "qa.serve", "qa.eval", "qa.integrations"} <= MODULES
    for package in ("ingest", "answer", "serve", "eval", "integrations"):
        doc = ast.get_docstring(ast.parse((ROOT / "qa" / package / "__init__.py").read_text()))
        assert doc and len(doc) > 80, package
    assert _layer("qa.answer.retrieval") == "answer"
    assert _layer("qa.safety") == "foundation"
    assert _layer("qa.assistant") == "qa.assistant"


def test_every_import_names_a_module_that_exists() -> None:
    missing = sorted(f"{module} -> {target}" for module, targets in GRAPH.items()
                     for target in targets if target not in MODULES)
    assert missing == []


def test_dependencies_go_one_way() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items() for target in targets
        if _layer(target) not in ALLOWED[_layer(module)]
    )
    assert wrong == []


def test_no_import_circle() -> None:
    # a package's __init__ that only re-exports is left out: importing qa.x.y runs qa/__init__
    # first, and Python handles that order; the circles that hurt are between modules
    graph = {m: {t for t in ts if t in GRAPH and t != "qa"} for m, ts in GRAPH.items()
             if m != "qa"}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert circles == []


def test_the_assistant_reads_as_wiring() -> None:
    assert len((ROOT / "qa" / "assistant.py").read_text().splitlines()) < 300


def test_the_command_line_fast_path_imports_no_answering_code() -> None:
    """``qa ask`` talking to a running server loads only the CLI, its client and the shared
    records: ``import qa`` is lazy and the client imports nothing but the foundation."""
    import subprocess
    import sys

    assert GRAPH["qa.serve.client"] <= FOUNDATION
    code = ("import sys, qa, qa.cli, qa.serve.client; print(sorted(m for m in sys.modules "
            "if m.startswith(('qa.assistant', 'qa.answer', 'qa.ingest', 'vectorstore', 'torch', "
            "'chromadb', 'llama_index', 'gradio'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"

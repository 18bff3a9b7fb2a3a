"""The house rules of the layout, read from each module's imports (``ast``, nothing is run).

Data flows one way: index -> retrieval -> reading -> api / cli. The core a Python user meets
(engine, schemas, settings, errors, retrieval, reading) never imports the shells (cli, api)
or the maintainer tooling (evaluation, tools), and ``index`` imports nothing of ``qa``.

``index`` has rooms by responsibility: ``index.text`` (corpus files, input formats, article
metadata, paragraphs, terms) knows no store; ``index.local`` (one data directory) and
``index.qdrant`` (the cluster back end) are two back ends that never reach into each other;
``index.backend`` is the interface both implement and knows neither; ``index.indexer``
(splitting, embedding, corpus sync) writes through that interface, and the back ends hold
no model of their own (``index.embedder``).

The engine is a facade over parts assembled in ``qa.wiring``; ``qa.catalog`` reads whole
documents, ``qa.intake`` takes them in, ``qa.retrieval.filters`` builds a request's filter.
"""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHELLS_AND_TOOLING = ("api", "qa.cli", "qa.agents", "qa.evaluation", "qa.tools")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parsed(path: Path) -> ast.Module:
    """A file's syntax tree, parsed in a thread of its own: CPython 3.11 checks the C
    recursion depth around building a tree, and a RecursionError caught earlier on the same
    thread (the product turns deeply nested JSON into a 4xx, and tests send it) can leave that
    count off, failing the parse with "AST constructor recursion depth mismatch"."""
    with ThreadPoolExecutor(max_workers=1) as fresh:
        return fresh.submit(ast.parse, path.read_text(encoding="utf-8")).result()


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count)."""
    names: set[str] = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


BACK_ENDS = ("index.local", "index.qdrant", "index.ray_ingest")
FORBIDDEN = {
    "index": ("qa", "api"),
    "index.text": (*BACK_ENDS, "index.backend", "index.embedder", "index.hardware"),
    "index.local": ("index.qdrant", "index.ray_ingest", "index.embedder"),
    "index.qdrant": ("index.local", "index.ray_ingest", "index.embedder"),
    "index.backend": (*BACK_ENDS, "index.indexer", "index.embedder"),
    "index.indexer": (*BACK_ENDS, "index.embedder"),
    "qa.retrieval": ("qa.reading", "qa.engine", *SHELLS_AND_TOOLING),
    "qa.reading": ("qa.engine", *SHELLS_AND_TOOLING),
    "qa.engine": ("qa.intake.feeds", "qa.intake.jobs", *SHELLS_AND_TOOLING),
    # Settings -> the engine's parts; whole documents as they are read back.
    "qa.wiring": ("qa.engine", "qa.intake.feeds", "qa.intake.jobs", *SHELLS_AND_TOOLING),
    "qa.catalog": ("qa.engine", "qa.wiring", *SHELLS_AND_TOOLING),
    # The client of a running service needs the models and errors only: no index, no models.
    "qa.client": ("qa.engine", "qa.retrieval", "qa.reading", "qa.intake", "index", *SHELLS_AND_TOOLING),
    # Documents coming in (requests, followed feeds, background jobs): read with index.text,
    # written through the back end's interface; never a store's internals or the reader.
    "qa.intake": (
        "qa.retrieval",
        "qa.reading",
        "qa.engine",
        "index.qdrant",
        "index.ray_ingest",
        *SHELLS_AND_TOOLING,
    ),
    # Opening a store (the back end the settings name, its corpus folder, a Ray pool).
    "qa.stores": ("qa.retrieval", "qa.reading", "qa.engine", "qa.intake", *SHELLS_AND_TOOLING),
    # The shells reach the store through the core only (Engine, qa.Client, qa.stores, errors).
    "api": ("index",),
    "qa.cli": ("index",),
    "qa.schemas": ("qa.engine", "qa.retrieval", "qa.reading", *SHELLS_AND_TOOLING),
    "qa.settings": ("qa.engine", "qa.retrieval", "qa.reading", *SHELLS_AND_TOOLING),
    "qa.errors": ("qa.engine", "qa.retrieval", "qa.reading", *SHELLS_AND_TOOLING),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    paths = (
        modules(package)
        if (ROOT / package.replace(".", "/")).is_dir()
        else [ROOT / (package.replace(".", "/") + ".py")]
    )
    assert paths and all(p.exists() for p in paths)
    wrong = [
        f"{module_name(p)} imports {name}"
        for p in paths
        for name in sorted(imported(p))
        if any(within(name, banned) for banned in FORBIDDEN[package])
    ]
    assert not wrong, "imports against the flow index -> retrieval -> reading -> api/cli:\n" + "\n".join(
        wrong
    )


def test_nothing_in_qa_imports_api() -> None:
    wrong = [
        f"{module_name(p)} imports {name}"
        for p in modules("qa")
        for name in imported(p)
        if within(name, "api")
    ]
    assert not wrong, wrong


def test_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from qa.tools import bench\n    import api.app\n")
    assert {"qa.tools", "qa.tools.bench", "api.app"} <= imported(source)


def test_core_stays_at_the_top_of_qa() -> None:
    top = {p.stem for p in (ROOT / "qa").glob("*.py")}
    assert top == {"__init__", "engine", "wiring", "catalog", "client", "schemas", "settings", "errors"}, top


def test_index_keeps_its_rooms() -> None:
    """New code goes into a room; the top of ``index`` holds only what every room shares."""
    top = {p.stem for p in (ROOT / "index").glob("*.py")}
    assert top == {"__init__", "backend", "indexer", "embedder", "errors", "hardware", "ray_ingest"}, top
    rooms = {p.name for p in (ROOT / "index").iterdir() if (p / "__init__.py").exists()}
    assert rooms == {"text", "local", "qdrant"}, rooms


def test_the_qdrant_back_end_is_composed_of_rooms_that_never_reach_up() -> None:
    """``index.qdrant.backend`` wires the rooms; a room imports only rooms below it (the
    connection at the bottom), never the facade, so each can be read on its own."""
    order = ["connection", "listing", "schema", "versions", "search", "documents", "writes", "migrations"]
    below = {room: {f"index.qdrant.{r}" for r in order[: order.index(room)]} for room in order}
    wrong = []
    for room in order:
        path = ROOT / "index" / "qdrant" / f"{room}.py"
        for name in imported(path):
            if within(name, "index.qdrant") and not any(within(name, b) for b in below[room]):
                wrong.append(f"index.qdrant.{room} imports {name}")
    assert not wrong, wrong
    rooms = {p.stem for p in (ROOT / "index" / "qdrant").glob("*.py")} - {"__init__", "backend"}
    assert rooms == set(order), rooms


# Scripts that train models or measure them are long by nature (one recipe read top to bottom).
LONG_BY_NATURE = ("qa.tools", "qa.evaluation", "qa.reading.train", "qa.reading.train_open")
MAX_MODULE_LINES = 420  # "about 400": a module past it holds two responsibilities


def test_no_module_of_the_product_outgrows_one_responsibility() -> None:
    """Every module of ``qa``, ``index`` and ``api`` fits in about 400 lines (training and
    benchmark scripts aside): a file past that is split by concern, as ``index.qdrant`` is."""
    long = {
        module_name(p): n
        for package in ("qa", "index", "api")
        for p in modules(package)
        if not any(within(module_name(p), t) for t in LONG_BY_NATURE)
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_the_engine_is_a_facade() -> None:
    """``qa.engine`` delegates: about 300 lines, no method longer than a screen."""
    tree = parsed(ROOT / "qa" / "engine.py")
    lines = len((ROOT / "qa" / "engine.py").read_text(encoding="utf-8").splitlines())
    assert lines <= 320, lines
    methods = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    longest = max(methods, key=lambda n: (n.end_lineno or n.lineno) - n.lineno)
    assert (longest.end_lineno or longest.lineno) - longest.lineno <= 45, longest.name

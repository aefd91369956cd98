"""The package boundaries, as a test: the path of a request reads off the file tree only
while these hold (docs/architecture.md, "Packages and the rules between them").

Every import in the product's packages is read with `ast`, including imports inside
functions, so a lazy import cannot hide a crossing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cairn", "gateway", "blockstore", "meta")

# (modules the rule applies to, as a dotted prefix; packages they must not import; why).
# Only cairn/ imports gateway, so only the composition root can wire all three together.
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("gateway.wire", ("meta", "blockstore", "cairn", "gateway.objects.service"),
     "the XML and header format is pure: it renders the service's result types"),
    ("gateway.handlers", ("meta", "blockstore", "cairn"),
     "handlers speak only to the object service"),
    ("meta", ("gateway", "blockstore", "cairn"),
     "metadata records know nothing of blocks or S3"),
    ("blockstore", ("gateway", "cairn"),
     "block storage and its cluster logic know nothing of S3"),
    ("gateway", ("cairn",), "only the composition root wires the packages together"),
    # The web console acts as its user through real S3 requests to its gateway: the one
    # authorization step decides, so it has neither storage nor access rules of its own
    # (what else it shows, cairn/console_setup.py hands it).
    ("gateway.console",
     ("meta", "blockstore", "cairn", "gateway.objects", "gateway.handlers", "gateway.authz",
      "gateway.auth", "gateway.keyring", "gateway.app"),
     "the console speaks S3 to its gateway, as the signed-in user"),
]  # fmt: skip

# Inside gateway, storage is reached through the object service alone. The two other
# modules that name meta: the one error mapping, and the key ring (access keys).
STORAGE_DOORS = ("gateway.objects", "gateway.errors", "gateway.keyring")
# Memory, not storage: the pooled block buffers a request body is read into.
SHARED = ("blockstore.buffers",)


def _modules(root: Path) -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def imports_of(module: str, path: Path) -> set[str]:
    """Every module a file imports, absolute, wherever in the file the import sits."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(root: Path) -> list[str]:
    """One line per imported module that breaks a rule, naming the file and the rule."""
    out: list[str] = []
    for module, path in _modules(root):
        imported = imports_of(module, path)
        # `from meta.store import X` yields meta.store and meta.store.X: report the module.
        imported = {n for n in imported if n.rpartition(".")[0] not in imported}
        for name in sorted(imported):
            why = _broken_rule(module, name)
            if why:
                out.append(f"{path.relative_to(root)} imports {name}: {why}")
    return out


def _broken_rule(module: str, name: str) -> str | None:
    for applies_to, forbidden, why in RULES:
        if _within(module, applies_to) and any(_within(name, f) for f in forbidden):
            return why
    storage = _within(name, "meta") or _within(name, "blockstore")
    if (
        storage
        and _within(module, "gateway")
        and not any(_within(module, d) for d in STORAGE_DOORS)
        and not any(_within(name, s) for s in SHARED)
    ):
        return "only the object service reaches storage"
    return None


def meta_cycles(root: Path) -> list[list[str]]:
    """Import cycles among meta's modules (meta must read bottom-up: keys and records first)."""
    graph = {
        m: {i for i in imports_of(m, p) if _within(i, "meta") and i != m}
        for m, p in _modules(root)
        if _within(m, "meta")
    }
    graph = {
        m: {i if i in graph else i.rpartition(".")[0] for i in deps} for m, deps in graph.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for dep in sorted(graph.get(m, ())):
            if dep not in graph or dep == "meta":
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_the_tree_keeps_its_import_rules() -> None:
    assert violations(ROOT) == []


def test_meta_has_no_import_cycle() -> None:
    assert meta_cycles(ROOT) == []


# The checker itself, on a deliberate violation of each rule: a test that cannot fail
# would pin nothing.
BAD = {
    "gateway/wire/listing.py": "from meta.records import ObjectHead\n",
    "gateway/handlers/object.py": "def f():\n    from blockstore.api import BlockStore\n",
    "meta/store.py": "import gateway.errors\n",
    "blockstore/node.py": "from cairn.cli import main\n",
    "gateway/app.py": "from cairn import serve\n",
    "gateway/console/app.py": "from gateway.authz.step import Authorizer\n",
}


@pytest.mark.parametrize("path", sorted(BAD))
def test_a_deliberate_violation_is_caught(tmp_path: Path, path: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    (target.parent / "__init__.py").touch()
    target.write_text(BAD[path])
    found = violations(tmp_path)
    assert found and all(line.startswith(path) for line in found), found


def test_storage_outside_the_object_service_is_caught(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "gateway" / "context.py").write_text("from meta.store import MetaStore\n")
    (tmp_path / "gateway" / "objects").mkdir()
    (tmp_path / "gateway" / "objects" / "service.py").write_text("import meta.store\n")
    assert violations(tmp_path) == [
        "gateway/context.py imports meta.store: only the object service reaches storage",
    ]


def test_a_meta_cycle_is_caught(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "meta" / "a.py").write_text("from meta import b\n")
    (tmp_path / "meta" / "b.py").write_text("def f():\n    from meta.a import x\n")
    assert meta_cycles(tmp_path) == [["meta.a", "meta.b", "meta.a"]]

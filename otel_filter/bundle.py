# SPDX-License-Identifier: Apache-2.0
"""Generate the installable single files: ``pipelines/otel_filter_pipeline.py`` (the whole filter) and
``pipelines/otel_feedback_event.py`` (the Event function that turns ratings into scores).

The filter file is what admins install: from its GitHub URL into a Pipelines server, or pasted as an
Open WebUI Function. The Event function file is pasted as a second Function (a module holds one plugin type).
Both are generated, never edited by hand; a test fails when one is stale.

    python -m otel_filter.bundle            # (re)write both files
    python -m otel_filter.bundle --check    # exit 1 if a committed file is stale

How: the modules that ``otel_filter.hosts`` needs are concatenated in dependency order; their
``from otel_filter… import …`` lines are dropped (the names are then defined earlier in the same
file), external imports are merged at the top (sorted as ruff's isort sorts them), module
docstrings become comments. ``from __future__ import annotations`` is dropped too: the Pipelines
server executes the file without registering it in ``sys.modules`` (and Open WebUI removes it
right after loading), and dataclasses and pydantic cannot resolve string annotations
of such a module; evaluated annotations need no lookup. The tests load the file both ways.
Generation fails if two modules bind one top-level name differently, or if the output contains
a phrase Open WebUI rewrites on import.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from otel_filter.event_function import EVENT_FUNCTION_NAME
from otel_filter.hosts import FILTER_NAME
from otel_filter.version import __version__

PACKAGE = "otel_filter"
ENTRY_MODULE = "hosts"
PACKAGE_DIR = Path(__file__).resolve().parent
OUTPUT = PACKAGE_DIR.parent / "pipelines" / "otel_filter_pipeline.py"
EVENT_ENTRY_MODULE = "event_function"
EVENT_OUTPUT = PACKAGE_DIR.parent / "pipelines" / "otel_feedback_event.py"
EVENT_EXTRA_DEPENDENCIES = ("langfuse",)
"""What the Event function needs beyond the filter's requirements: the Langfuse API client (scores), listed with the
bound the ``server`` extra of ``pyproject.toml`` gives it."""
# Open WebUI's replace_imports() rewrites these phrases anywhere in a Function's source.
FORBIDDEN_PHRASES = ("from utils", "from main", "from config", "from apps")


class BundleError(Exception):
    """The package cannot be bundled as one file; the message says why."""


PYPROJECT = PACKAGE_DIR.parent / "pyproject.toml"
SHIPPED_BY_HOSTS = frozenset({"pydantic"})
"""Runtime dependencies the file does not list: both hosts (Open WebUI, the Pipelines server) ship them."""


def _distribution_name(requirement: str) -> str:
    """``genai-prices`` of ``genai-prices>=0.2.5``."""
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]


def filter_requirements(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """The file's ``requirements:``: the package's runtime dependencies (``pyproject.toml``, the one list),
    minus :data:`SHIPPED_BY_HOSTS`.

    The Pipelines server pip-installs each comma-separated item, so a dependency with a comma (a version range)
    or an environment marker cannot be listed: :class:`BundleError` says which.
    """
    if not pyproject.is_file():
        raise BundleError(f"{pyproject} not found: generate the file from a checkout of the repository")
    dependencies: list[str] = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    listed = []
    for dependency in dependencies:
        name = _distribution_name(dependency)
        if name.lower() in SHIPPED_BY_HOSTS:
            continue
        if "," in dependency or ";" in dependency:
            raise BundleError(
                f"{dependency!r}: one lower bound only (name>=version), the Pipelines server splits on commas"
            )
        listed.append(dependency)
    return tuple(listed)


def event_function_requirements(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """The Event function file's ``requirements:``: the filter's plus :data:`EVENT_EXTRA_DEPENDENCIES` as the
    ``server`` extra pins them."""
    server: list[str] = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["optional-dependencies"][
        "server"
    ]
    extra = []
    for name in EVENT_EXTRA_DEPENDENCIES:
        found = [item for item in server if _distribution_name(item).lower() == name]
        if len(found) != 1 or "," in found[0] or ";" in found[0]:
            raise BundleError(f"pyproject.toml's server extra must list {name} once, with one lower bound")
        extra.append(found[0])
    return (*filter_requirements(pyproject), *extra)


try:
    REQUIREMENTS = filter_requirements()
    """The requirements the generated file lists (from ``pyproject.toml``; empty outside a checkout)."""
except BundleError:  # an installed package: nothing to generate from
    REQUIREMENTS = ()


@dataclass
class _Module:
    name: str
    path: Path
    source: str
    tree: ast.Module
    deps: list[str]


def _internal_import(node: ast.stmt) -> str | None:
    """The sibling module an import statement pulls from, or None for external imports."""
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == PACKAGE:
            raise BundleError(f"line {node.lineno}: import names from {PACKAGE}.<module>, not from the package")
        if node.module.startswith(PACKAGE + "."):
            return node.module.split(".", 1)[1]
    if isinstance(node, ast.Import) and any(alias.name.startswith(PACKAGE) for alias in node.names):
        raise BundleError(f"line {node.lineno}: use 'from {PACKAGE}.<module> import <name>'")
    if isinstance(node, ast.ImportFrom) and node.level:
        raise BundleError(f"line {node.lineno}: relative imports cannot be bundled; use absolute ones")
    return None


def _load(name: str) -> _Module:
    path = PACKAGE_DIR / f"{name}.py"
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    deps: list[str] = []
    for node in tree.body:
        try:
            dep = _internal_import(node)
        except BundleError as error:
            raise BundleError(f"{path.name}: {error}") from None
        if dep is not None and dep not in deps:
            deps.append(dep)
    return _Module(name, path, source, tree, deps)


def _ordered_modules(entry: str = ENTRY_MODULE) -> list[_Module]:
    modules: dict[str, _Module] = {}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise BundleError(f"import cycle through {name}")
        visiting.add(name)
        module = modules.setdefault(name, _load(name))
        for dep in module.deps:
            visit(dep)
        visiting.discard(name)
        order.append(name)

    visit(entry)
    return [modules[name] for name in order]


def _bound_names(module: _Module) -> dict[str, str]:
    """Top-level names the module binds, each with what it is bound to (for collision checks)."""
    names: dict[str, str] = {}
    for node in module.tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if _internal_import(node) is not None or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                continue
            for alias in node.names:
                source = f"{getattr(node, 'module', '')}.{alias.name}"
                names[alias.asname or alias.name.split(".")[0]] = f"import {source}"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = f"defined in {module.name}"
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names[sub.id] = f"defined in {module.name}"
    return names


def _check_collisions(modules: list[_Module]) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for module in modules:
        for name, binding in _bound_names(module).items():
            if name in seen and seen[name][1] != binding:
                raise BundleError(
                    f"name {name!r} is bound in both {seen[name][0]} ({seen[name][1]}) and {module.name} ({binding}); "
                    "rename one so the modules can share one namespace"
                )
            seen.setdefault(name, (module.name, binding))


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def _external_imports(modules: list[_Module]) -> str:
    """Every module's external imports, merged and hoisted to the top of the file (stdlib first)."""
    plain: set[str] = set()
    from_imports: dict[str, set[str]] = {}
    for module in modules:
        for node in module.tree.body:
            if not _is_import(node) or _internal_import(node) is not None:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.module == "__future__":
                    continue
                names = {alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in node.names}
                from_imports.setdefault(node.module or "", set()).update(names)
            elif isinstance(node, ast.Import):
                plain.update(alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in node.names)

    def third_party(name: str) -> bool:
        return name.partition(".")[0] not in sys.stdlib_module_names

    def member_order(name: str) -> tuple[int, str]:
        # isort's order-by-type: CONSTANTS, then Classes, then functions, each case-insensitively.
        bare = name.partition(" as ")[0]
        kind = 0 if bare.isupper() else 1 if bare[:1].isupper() else 2
        return kind, bare.lower()

    lines: list[str] = []
    for group in (False, True):
        block = [f"import {name}" for name in sorted(plain) if third_party(name) is group]
        block += [
            f"from {module} import {', '.join(sorted(names, key=member_order))}"
            for module, names in sorted(from_imports.items())
            if third_party(module) is group
        ]
        if block:
            lines.extend([*block, ""])
    return "\n".join(lines)


def _module_body(module: _Module) -> str:
    """The module's source without its docstring and imports (hoisted), headed by a comment."""
    lines = module.source.splitlines()
    drop: set[int] = set()
    body = module.tree.body
    docstring = ""
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            docstring = body[0].value.value.strip().splitlines()[0]
            drop.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    for node in body:
        if _is_import(node):
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    kept = [line for number, line in enumerate(lines, start=1) if number not in drop]
    kept = [line for line in kept if not line.startswith("# SPDX-License-Identifier")]
    text = "\n".join(kept).strip("\n")
    header = f"# {'=' * 20} {PACKAGE}/{module.name}.py {'=' * 20}" + (f"\n# {docstring}" if docstring else "")
    # Two blank lines around each module, as around top-level definitions (ruff format's rule).
    return f"{header}\n\n\n{text}\n\n"


def _frontmatter(title: str, description: str, requirements: tuple[str, ...]) -> str:
    return "\n".join(
        [
            '"""',
            f"title: {title}",
            "author: owui-otel",
            f"version: {__version__}",
            "license: Apache-2.0",
            f"description: {description}",
            f"requirements: {', '.join(requirements)}",
            '"""',
        ]
    )


def render() -> str:
    """The complete single-file filter, as text."""
    return _render(
        ENTRY_MODULE,
        _frontmatter(
            FILTER_NAME,
            "Every chat turn as an OpenTelemetry GenAI span (Langfuse, Jaeger, any OTLP backend)",
            filter_requirements(),
        ),
        "# Do not edit: change the package and regenerate. Works both as an Open WebUI Pipelines filter",
        "# (class Pipeline) and as an Open WebUI Function (class Filter).",
    )


def render_event_function() -> str:
    """The complete single-file Event function (Open WebUI >= 0.10), as text."""
    return _render(
        EVENT_ENTRY_MODULE,
        _frontmatter(
            EVENT_FUNCTION_NAME,
            "Every Open WebUI rating as a score on the rated turn (Langfuse) and a gen_ai.evaluation.result (OTel)",
            event_function_requirements(),
        ),
        "# Do not edit: change the package and regenerate. An Open WebUI Event function (class Event): install it",
        "# in Admin Panel > Functions next to the filter and switch it on.",
    )


def _render(entry: str, frontmatter: str, *about: str) -> str:
    modules = _ordered_modules(entry)
    _check_collisions(modules)
    parts = [
        frontmatter,
        "# SPDX-License-Identifier: Apache-2.0",
        f"# GENERATED by `python -m otel_filter.bundle` from the otel_filter package {__version__}.",
        *about,
        "",
        _external_imports(modules),
    ]
    parts.extend(_module_body(module) for module in modules)
    text = "\n".join(parts).rstrip("\n") + "\n"
    for phrase in FORBIDDEN_PHRASES:
        if phrase in text:
            line = next(i for i, row in enumerate(text.splitlines(), start=1) if phrase in row)
            raise BundleError(f"generated line {line} contains {phrase!r}, which Open WebUI rewrites on import")
    compile(text, f"{entry}.py", "exec")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel_filter.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs, write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write the filter (default {OUTPUT})")
    parser.add_argument(
        "--event-output",
        type=Path,
        default=EVENT_OUTPUT,
        help=f"where to write the Event function (default {EVENT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    try:
        outputs = ((args.output, render()), (args.event_output, render_event_function()))
    except BundleError as error:
        print(f"error: cannot bundle {PACKAGE}: {error}", file=sys.stderr)
        return 1
    return max(_write(path, text, check=args.check) for path, text in outputs)


def _write(output: Path, text: str, *, check: bool) -> int:
    """Write (or with ``check`` compare) one generated file; 1 when a checked file is stale."""
    current = output.read_text(encoding="utf-8") if output.exists() else None
    if check:
        if current != text:
            print(f"{output} is stale: run `python -m otel_filter.bundle`", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    if current != text:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    else:
        print(f"{output} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

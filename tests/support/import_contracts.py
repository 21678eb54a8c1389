# SPDX-License-Identifier: Apache-2.0
"""An import-linter contract type: no module imports a private module (``_name``) of another package.

import-linter's own ``forbidden`` contract matches whole module names only (``otel_filter.*``, not
``otel_filter._*``), so "private" is spelled out here once: a module path with a part that starts with one
underscore, below the package. Configured in ``pyproject.toml`` (``[tool.importlinter]``) and run by ``make lint``::

    [[tool.importlinter.contracts]]
    name = "No private imports across packages"
    type = "private_imports"
    packages = ["otel_filter", "collector", "owui_otel", "benchmarks"]
    allowed_importers = ["benchmarks.profile_hooks"]
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def is_private(module: str) -> bool:
    """Whether ``module`` is private to its package: a part below the package starts with one underscore.

    >>> is_private("otel_filter._settings"), is_private("collector._backends.langfuse")
    (True, True)
    >>> is_private("otel_filter.semconv")
    False
    >>> is_private("collector.__main__")
    False
    """
    return any(part.startswith("_") and not part.startswith("__") for part in module.split(".")[1:])


class PrivateImportsContract(Contract):
    """Fails when a module of one of ``packages`` imports a private module of another of them."""

    packages = fields.ListField(subfield=fields.StringField())
    allowed_importers = fields.ListField(subfield=fields.StringField(), required=False, default=[])

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        packages = {str(name) for name in self.packages}  # type: ignore[attr-defined]
        allowed = {str(name) for name in self.allowed_importers}  # type: ignore[attr-defined]
        violations: list[dict[str, object]] = []
        for importer in sorted(graph.modules):
            importer_package = importer.split(".")[0]
            if importer_package not in packages or importer in allowed:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                imported_package = imported.split(".")[0]
                if imported_package in packages and imported_package != importer_package and is_private(imported):
                    lines = graph.get_import_details(importer=importer, imported=imported)
                    violations.append(
                        {"importer": importer, "imported": imported, "lines": [d["line_number"] for d in lines]}
                    )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{number}" for number in violation["lines"])
            output.print_error(
                f"{violation['importer']} imports {violation['imported']} ({lines}): private to its package;"
                " import a public module or name instead (or give the package one)."
            )
            output.new_line()

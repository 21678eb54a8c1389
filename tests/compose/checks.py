# SPDX-License-Identifier: Apache-2.0
"""Static checks of docker-compose.yml and .env.example, for a machine without a Docker engine.

Every check returns a list of problems (human-readable strings; empty = fine), so a test can assert both that the
real files pass and that a broken copy is reported. The checks read plain data: a compose document as loaded by
``yaml.safe_load`` (anchors and ``<<`` merges resolved), the text of ``.env.example`` and of the collector config.

Usage::

    doc = load_compose(COMPOSE_FILE.read_text())
    env = parse_env_example(ENV_EXAMPLE.read_text())
    resolved, errors = interpolate_doc(doc, env.values)
    problems = check_mounts(doc, REPO_ROOT) + check_collector_wiring(resolved, COLLECTOR_CONFIG.read_text())

Compose semantics followed here (Compose Specification, "Interpolation"): ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+replacement}``, ``${VAR+replacement}``, ``$VAR``
and ``$$`` (a literal ``$``) in string values, never in keys; defaults may nest further references.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft7Validator

from collector._config import env_vars_used

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
COLLECTOR_CONFIG = REPO_ROOT / "otel-collector.yaml"

# Service names the wiring checks rely on (the compose file's, not the images').
OPEN_WEBUI = "open-webui"
PIPELINES = "pipelines"
COLLECTOR = "otel-collector"
COLLECTOR_INIT = "otelcol-init"
JAEGER = "jaeger"
LANGFUSE_WEB = "langfuse-web"

LANGFUSE_SERVICES = frozenset(
    {
        LANGFUSE_WEB,
        "langfuse-worker",
        "langfuse-postgres",
        "langfuse-clickhouse",
        "langfuse-redis",
        "langfuse-minio",
        "langfuse-host-check",
    }
)
PROMETHEUS = "prometheus"
GRAFANA = "grafana"
METRICS_SERVICES = frozenset({PROMETHEUS, GRAFANA})
"""Usage metrics and the dashboard (metrics_checks.py checks their wiring; check_all does not include it)."""
DEFAULT_SERVICES = frozenset({OPEN_WEBUI, PIPELINES, COLLECTOR_INIT, COLLECTOR, JAEGER}) | METRICS_SERVICES
"""The services that always run; the others belong to the `langfuse` profile."""
TRACING_SERVICES = frozenset({PIPELINES, COLLECTOR_INIT, COLLECTOR, JAEGER}) | LANGFUSE_SERVICES | METRICS_SERVICES
"""Everything that only records chats: Open WebUI must start whatever state these are in."""

# Jaeger v2 all-in-one listens for OTLP/gRPC on 4317 (its embedded config, jaegertracing/jaeger
# cmd/jaeger/internal/all-in-one.yaml). The
# collector's exporter to it is otlp_grpc/jaeger, so JAEGER_OTLP_ENDPOINT must use this port.
JAEGER_OTLP_GRPC_PORT = 4317

# The only ports users need on the host: the web UIs (Prometheus' serves PromQL too). (service, container port)
PUBLISHED_ALLOWED = frozenset(
    {(OPEN_WEBUI, 8080), (JAEGER, 16686), (LANGFUSE_WEB, 3000), (PROMETHEUS, 9090), (GRAFANA, 3000)}
)

# Variables of the Docker Compose CLI itself: documented in .env.example although the compose file never reads them.
COMPOSE_CLI_VARIABLES = frozenset({"COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"})

# Names that hold credentials: never an inline default, and required (`${VAR:?msg}`) unless listed as optional.
SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|SALT|TOKEN|AUTH)(_|$)")
OPTIONAL_SECRETS = frozenset(
    {
        "LLM_API_KEY",  # an LLM API that needs no key is fine
        "WEBUI_SECRET_KEY",  # empty: the Open WebUI image generates one per container
    }
)

# Tags that move: an image with one of these (or none) is not pinned.
MOVING_TAGS = frozenset({"latest", "main", "master", "dev", "nightly", "edge", "stable"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


# --- loading -------------------------------------------------------------------------------------------------------


def load_compose(text: str) -> dict[str, Any]:
    """Parse a compose file; anchors, aliases and ``<<`` merge keys are resolved by the YAML loader."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("the compose file is not a YAML mapping")
    return doc


def services(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(doc.get("services") or {})


# --- interpolation -------------------------------------------------------------------------------------------------


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` without a value, or a malformed reference."""


@dataclass(frozen=True)
class VarRef:
    """One ``${NAME<operator><argument>}`` (or ``$NAME``) found at ``path`` (e.g. ``services.a.environment.B``)."""

    name: str
    operator: str  # "" | ":-" | "-" | ":?" | "?" | ":+" | "+"
    argument: str
    path: str

    @property
    def required(self) -> bool:
        return self.operator in (":?", "?")


def _split_reference(body: str, where: str) -> tuple[str, str, str]:
    match = _NAME.match(body)
    if not match:
        raise InterpolationError(f"{where}: invalid interpolation ${{{body}}}")
    name, rest = match.group(), body[match.end() :]
    if not rest:
        return name, "", ""
    for operator in _OPERATORS:
        if rest.startswith(operator):
            return name, operator, rest[len(operator) :]
    raise InterpolationError(f"{where}: invalid interpolation ${{{body}}}")


def _closing_brace(text: str, start: int, where: str) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise InterpolationError(f"{where}: unclosed '${{' in {text!r}")


def _render(text: str, env: Mapping[str, str] | None, refs: list[VarRef], where: str) -> str:
    """Interpolate ``text`` with ``env`` (None: only collect the references, return "")."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        following = text[index + 1]
        if following == "$":
            out.append("$")
            index += 2
            continue
        if following == "{":
            end = _closing_brace(text, index + 2, where)
            name, operator, argument = _split_reference(text[index + 2 : end], where)
            index = end + 1
        else:
            match = _NAME.match(text, index + 1)
            if not match:
                out.append(char)
                index += 1
                continue
            name, operator, argument = match.group(), "", ""
            index = match.end()
        refs.append(VarRef(name, operator, argument, where))
        # Nested references inside a default/replacement/message are references too.
        nested = _render(argument, env, refs, where) if argument else ""
        if env is None:
            continue
        is_set = name in env
        value = env.get(name, "")
        if operator == ":-":
            out.append(value if value else nested)
        elif operator == "-":
            out.append(value if is_set else nested)
        elif operator == ":?":
            if not value:
                raise InterpolationError(f"{where}: required variable {name} is missing a value: {nested}")
            out.append(value)
        elif operator == "?":
            if not is_set:
                raise InterpolationError(f"{where}: required variable {name} is missing: {nested}")
            out.append(value)
        elif operator == ":+":
            out.append(nested if value else "")
        elif operator == "+":
            out.append(nested if is_set else "")
        else:
            out.append(value)
    return "".join(out)


def interpolate(text: str, env: Mapping[str, str], where: str = "") -> str:
    """Interpolate one string value the way Compose does."""
    return _render(text, env, [], where)


def _map_strings(node: Any, change: Callable[[str, str], str], path: str = "") -> Any:
    """A copy of ``node`` with every string value replaced by ``change(value, path)`` (keys are left alone)."""
    if isinstance(node, str):
        return change(node, path)
    if isinstance(node, Mapping):
        return {key: _map_strings(value, change, f"{path}.{key}" if path else str(key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_map_strings(value, change, f"{path}[{position}]") for position, value in enumerate(node)]
    return node


def variable_refs(doc: Mapping[str, Any]) -> list[VarRef]:
    """Every variable reference in the document's string values (``x-`` anchors are counted where they are used)."""
    refs: list[VarRef] = []
    _map_strings(doc, lambda text, path: _render(text, None, refs, path))
    return refs


def interpolate_doc(doc: Any, env: Mapping[str, str]) -> tuple[Any, list[str]]:
    """A copy of ``doc`` with every string interpolated; unresolvable values are kept as-is and reported."""
    errors: list[str] = []

    def interpolate_or_keep(text: str, path: str) -> str:
        try:
            return interpolate(text, env, path)
        except InterpolationError as exc:
            errors.append(str(exc))
            return text

    return _map_strings(doc, interpolate_or_keep), errors


# --- .env.example --------------------------------------------------------------------------------------------------

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# `# NAME=value` with a one-word or quoted value; `#   NAME=a b c` (a command line in prose) is not an assignment.
_COMMENTED_ASSIGNMENT = re.compile(r"""^# ?([A-Za-z_][A-Za-z0-9_]*)=(\S*|'[^']*'|"[^"]*")$""")


def _env_value(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


@dataclass
class EnvExample:
    """``.env.example`` parsed: active ``NAME=value`` lines, commented-out ``# NAME=value`` alternatives, and
    assignments that no explanatory comment precedes."""

    values: dict[str, str] = field(default_factory=dict)
    alternatives: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return set(self.values) | set(self.alternatives)

    def all_values(self, name: str) -> list[str]:
        active = [self.values[name]] if name in self.values else []
        return active + self.alternatives.get(name, [])


def parse_env_example(text: str) -> EnvExample:
    """Parse ``.env.example``. Each group of assignments must follow a comment that explains it (no blank line in
    between); section rulers (``# ---- ...``) do not count as explanations."""
    result = EnvExample()
    explained = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            explained = False
            continue
        active = _ASSIGNMENT.match(stripped)
        match = active or _COMMENTED_ASSIGNMENT.match(stripped)
        if match:
            name, value = match.group(1), _env_value(match.group(2))
            if active:
                if name in result.values:
                    result.problems.append(f".env.example:{number}: {name} is assigned twice")
                result.values[name] = value
            else:
                result.alternatives.setdefault(name, []).append(value)
            if not explained:
                result.problems.append(f".env.example:{number}: {name} has no explanatory comment right above it")
            continue
        if stripped.startswith("#"):
            if not stripped.lstrip("#").strip().startswith("--"):
                explained = True
            continue
        result.problems.append(f".env.example:{number}: not a comment or NAME=value line: {stripped!r}")
    return result


# --- checks: variables ---------------------------------------------------------------------------------------------


def check_variables(doc: Mapping[str, Any], env: EnvExample) -> list[str]:
    """Every ``${VAR}`` is documented in .env.example and vice versa; secrets have no inline default; required
    variables use ``:?`` with a message everywhere and have an example value; .env.example explains each one."""
    problems = list(env.problems)
    documented = env.names
    by_name: dict[str, list[VarRef]] = {}
    for ref in variable_refs(doc):
        by_name.setdefault(ref.name, []).append(ref)

    for name, occurrences in sorted(by_name.items()):
        first = occurrences[0].path
        if name not in documented:
            problems.append(f"${{{name}}} ({first}) is not documented in .env.example")
        required = [ref for ref in occurrences if ref.required]
        if required and len(required) != len(occurrences):
            optional = next(ref for ref in occurrences if not ref.required)
            problems.append(f"{name} is required at {required[0].path} but optional at {optional.path}")
        for ref in required:
            if ref.operator != ":?" or not ref.argument.strip():
                problems.append(f"{name} at {ref.path}: write required variables as ${{{name}:?<what to do>}}")
        if required and not env.values.get(name):
            problems.append(f"{name} is required but has no value in .env.example (`cp .env.example .env` would fail)")
        if SECRET_NAME.search(name):
            for ref in occurrences:
                if ref.operator in (":-", "-") and ref.argument:
                    problems.append(f"secret {name} has an inline default at {ref.path}: no secrets in the file")
            if not required and name not in OPTIONAL_SECRETS:
                problems.append(f"secret {name} ({first}) must be required: ${{{name}:?<what to do>}}")

    for name in sorted(documented - set(by_name) - COMPOSE_CLI_VARIABLES):
        problems.append(f"{name} is in .env.example but docker-compose.yml never reads it")
    return problems


# --- checks: volumes and bind mounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    service: str
    kind: str  # "bind" | "volume" | "tmpfs"
    source: str
    target: str
    read_only: bool
    short_syntax: bool
    selinux: str = ""  # "z" | "Z" | "" (long syntax `bind: {selinux: ...}`, or the short syntax's mode)


def mounts(doc: Mapping[str, Any]) -> list[Mount]:
    found: list[Mount] = []
    for name, service in services(doc).items():
        for entry in service.get("volumes") or []:
            if isinstance(entry, str):
                parts = entry.split(":")
                source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
                mode = parts[2] if len(parts) > 2 else ""
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
                options = mode.split(",")
                selinux = next((option for option in options if option in ("z", "Z")), "")
                found.append(Mount(name, kind, source, target, "ro" in options, True, selinux))
            elif isinstance(entry, Mapping):
                found.append(
                    Mount(
                        name,
                        str(entry.get("type", "volume")),
                        str(entry.get("source", "")),
                        str(entry.get("target", "")),
                        bool(entry.get("read_only", False)),
                        False,
                        str((entry.get("bind") or {}).get("selinux", "")),
                    )
                )
    return found


def mounts_of(doc: Mapping[str, Any], service: str) -> list[Mount]:
    return [mount for mount in mounts(doc) if mount.service == service]


def check_mounts(doc: Mapping[str, Any], project_dir: Path) -> list[str]:
    """Bind-mounted files exist inside the repository and use the long syntax (the short one silently creates a
    missing path as an empty directory); every named volume is declared, every declared volume used."""
    problems: list[str] = []
    root = project_dir.resolve()
    declared = set((doc.get("volumes") or {}).keys())
    used: set[str] = set()
    for mount in mounts(doc):
        where = f"services.{mount.service}.volumes ({mount.source or '?'}:{mount.target})"
        if mount.kind == "bind":
            path = (root / mount.source).resolve()
            if not path.is_relative_to(root):
                problems.append(f"{where}: bind source is outside the repository")
            elif not path.exists():
                problems.append(f"{where}: bind source {mount.source} does not exist in the repository")
            if not mount.read_only:
                problems.append(f"{where}: mount files of the repository read-only (read_only: true)")
            if mount.selinux not in ("z", "Z"):
                problems.append(f"{where}: add `bind: {{selinux: z}}` so the container can read it on SELinux hosts")
            if mount.short_syntax:
                problems.append(
                    f"{where}: use the long syntax (type: bind) so a missing file fails instead of "
                    "becoming an empty directory"
                )
        elif mount.kind == "volume" and mount.source:
            used.add(mount.source)
            if mount.source not in declared:
                problems.append(f"{where}: named volume {mount.source} is not declared under top-level volumes")
    for name in sorted(declared - used):
        problems.append(f"volume {name} is declared but no service mounts it")
    return problems


# --- checks: ports, images, dependencies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedPort:
    service: str
    host_ip: str
    published: str
    target: int


def _parse_short_port(spec: str) -> tuple[str, str, str]:
    spec = spec.split("/", 1)[0]
    host_ip = ""
    if spec.startswith("["):  # [::1]:3000:8080
        end = spec.index("]")
        host_ip, spec = spec[1:end], spec[end + 2 :]
    parts = spec.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return host_ip, parts[0], parts[1]
    return host_ip, "", parts[0]


def published_ports(doc: Mapping[str, Any]) -> list[PublishedPort]:
    found: list[PublishedPort] = []
    for name, service in services(doc).items():
        for entry in service.get("ports") or []:
            if isinstance(entry, Mapping):
                host_ip, published, target = (
                    str(entry.get("host_ip", "")),
                    str(entry.get("published", "")),
                    str(entry.get("target", "")),
                )
            else:
                host_ip, published, target = _parse_short_port(str(entry))
            found.append(PublishedPort(name, host_ip, published, int(target)))
    return found


def exposed_ports(service: Mapping[str, Any]) -> set[int]:
    """Container ports a service declares: ``expose`` plus the targets of ``ports``."""
    result = {int(str(entry).split("/", 1)[0].split("-", 1)[0]) for entry in service.get("expose") or []}
    for entry in service.get("ports") or []:
        target = entry.get("target") if isinstance(entry, Mapping) else _parse_short_port(str(entry))[2]
        result.add(int(str(target)))
    return result


def check_ports(resolved: Mapping[str, Any], allowed: frozenset[tuple[str, int]] = PUBLISHED_ALLOWED) -> list[str]:
    """Only the web UIs are published, each on 127.0.0.1 and a fixed host port, none twice (run on an
    interpolated document)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for port in published_ports(resolved):
        where = f"services.{port.service}.ports ({port.host_ip}:{port.published}:{port.target})"
        if (port.service, port.target) not in allowed:
            problems.append(f"{where}: publishes a port users do not need; keep it internal (expose:)")
        if port.host_ip != "127.0.0.1":
            problems.append(f"{where}: bind published ports to 127.0.0.1")
        if not port.published.isdigit():
            problems.append(f"{where}: the host port must be a fixed number")
        elif port.published in seen:
            problems.append(f"{where}: host port {port.published} is also published by {seen[port.published]}")
        else:
            seen[port.published] = port.service
    return problems


def check_images(doc: Mapping[str, Any]) -> list[str]:
    """Every image names a fixed tag (a release, or a `git-<sha>` where no releases exist) or a digest: no
    `latest`, branch tags or untagged images, so a fresh start runs what was tested."""
    problems: list[str] = []
    for name, service in services(doc).items():
        image = str(service.get("image", ""))
        if not image:
            problems.append(f"services.{name}: no image (this stack builds nothing)")
            continue
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else ""
        if not tag or tag in MOVING_TAGS or "$" in tag:
            problems.append(f"services.{name}: image {image} is not pinned to a release tag")
    return problems


def _dependencies(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``depends_on`` in its long form: name -> {condition, required, ...} (the short list means started+required)."""
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {str(name): {"condition": "service_started", "required": True} for name in depends}
    return {str(name): dict(config or {}) for name, config in depends.items()}


def check_chat_never_waits_for_tracing(doc: Mapping[str, Any], chat: str = OPEN_WEBUI) -> list[str]:
    """Open WebUI starts whatever state the tracing services are in: each of its dependencies is start-only
    (``condition: service_started``) and optional (``required: false``: Compose then only warns when it cannot
    start, so what that dependency itself waits for cannot hold Open WebUI back either). A wait for a healthy
    Pipelines server would keep the chat UI down whenever the filter fails to import."""
    problems: list[str] = []
    for dependency, config in _dependencies(services(doc).get(chat, {})).items():
        where = f"services.{chat}.depends_on.{dependency}"
        condition = config.get("condition", "service_started")
        if condition != "service_started":
            problems.append(f"{where}: {condition} makes {chat} wait on tracing; use condition: service_started")
        if config.get("required", True) is not False:
            problems.append(f"{where}: add required: false so {chat} starts even when {dependency} cannot")
    return problems


_PORT_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*_PORT):-(?P<default>\d+)\}$")


def check_host_ports_are_variables(doc: Mapping[str, Any]) -> list[str]:
    """Every published host port is ``${NAME_PORT:-default}`` (run on the raw document), so a port taken by another
    Open WebUI or the local stack is changed in .env, not in this file."""
    problems: list[str] = []
    for name, service in services(doc).items():
        for entry in service.get("ports") or []:
            if isinstance(entry, Mapping):
                published = str(entry.get("published", ""))
            else:  # [host_ip:]published:target; the variable's `:-` holds a colon too, so cut known parts off
                spec = str(entry).split("/", 1)[0].rsplit(":", 1)[0]
                published = spec.split(":", 1)[1] if spec.count(":") >= 1 and not spec.startswith("$") else spec
            if not _PORT_VARIABLE.match(published):
                problems.append(
                    f"services.{name}.ports: host port {published!r} must be a variable with a default, "
                    "e.g. ${OPEN_WEBUI_PORT:-3000}"
                )
    return problems


def check_dependencies(doc: Mapping[str, Any]) -> list[str]:
    """depends_on names existing services, and a service that always runs depends on no profile-only service."""
    problems: list[str] = []
    all_services = services(doc)
    for name, service in all_services.items():
        depends = service.get("depends_on") or {}
        for dependency in depends if isinstance(depends, (list, Mapping)) else []:
            if dependency not in all_services:
                problems.append(f"services.{name}.depends_on: unknown service {dependency}")
            elif not service.get("profiles") and all_services[dependency].get("profiles"):
                problems.append(f"services.{name}.depends_on: {dependency} runs only with a profile")
    return problems


# --- checks: wiring between services -------------------------------------------------------------------------------

_HOST_PORT = re.compile(r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:[^@/]*@)?(?P<host>[A-Za-z0-9_.-]+):(?P<port>\d+)")


def collector_env_defaults(config_text: str) -> dict[str, str | None]:
    """The ``${env:VAR:-default}`` references of a collector config: name -> default (None: no default)."""
    return env_vars_used(yaml.safe_load(config_text))


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def host_port(value: str) -> tuple[str, int] | None:
    """``http://host:1234/x``, ``host:1234`` -> (host, 1234); None without an explicit port."""
    match = _HOST_PORT.match(value.strip())
    return (match.group("host"), int(match.group("port"))) if match else None


def check_service_urls(resolved: Mapping[str, Any], env: EnvExample | None = None) -> list[str]:
    """Every ``host:port`` / URL in an environment value (and in .env.example) whose host is a compose service
    must use a port that service exposes."""
    problems: list[str] = []
    all_services = services(resolved)

    def check(value: str, where: str) -> None:
        for part in value.split(";"):
            found = host_port(part)
            if found and found[0] in all_services and found[1] not in exposed_ports(all_services[found[0]]):
                problems.append(
                    f"{where}: {part.strip()} -> {found[0]} does not listen on {found[1]} "
                    f"(it exposes {sorted(exposed_ports(all_services[found[0]]))})"
                )

    for name, service in all_services.items():
        for key, value in environment(service).items():
            check(value, f"services.{name}.environment.{key}")
    if env is not None:
        for key in sorted(env.names):
            for value in env.all_values(key):
                check(value, f".env.example {key}")
    return problems


def _config_paths(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    args = command.split() if isinstance(command, str) else [str(arg) for arg in command]
    paths: list[str] = []
    for position, arg in enumerate(args):
        if arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
        elif arg == "--config" and position + 1 < len(args):
            paths.append(args[position + 1])
    return [path.removeprefix("file:") for path in paths]


def _bind_mounted_overlays(doc: Mapping[str, Any], collector: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The collector's --config overlays (after the base file) that are files of this repository."""
    overlays = []
    for path in _config_paths(collector)[1:]:
        mount = _mounted_at(doc, COLLECTOR, path)
        if mount is not None and mount.kind == "bind" and mount.target == path:
            source = REPO_ROOT / mount.source
            if source.is_file():
                overlays.append(yaml.safe_load(source.read_text(encoding="utf-8")) or {})
    return overlays


def interpolate_collector_env(value: str, env: Mapping[str, str]) -> str:
    """``${env:NAME:-default}`` in a collector config value, with the service's environment."""

    def replace(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or match.group(2) or ""

    return re.sub(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", replace, value)


def _mounted_at(doc: Mapping[str, Any], service: str, path: str) -> Mount | None:
    """The mount that provides ``path`` in ``service`` (the deepest target that contains it)."""
    best: Mount | None = None
    for mount in mounts_of(doc, service):
        if path == mount.target or path.startswith(mount.target.rstrip("/") + "/"):
            if best is None or len(mount.target) > len(best.target):
                best = mount
    return best


def check_collector_wiring(resolved: Mapping[str, Any], config_text: str) -> list[str]:
    """The collector service matches what otel-collector.yaml reads, and every sender and receiver agrees on
    service names and ports (run on an interpolated document)."""
    problems: list[str] = []
    all_services = services(resolved)
    for required in (OPEN_WEBUI, PIPELINES, COLLECTOR, COLLECTOR_INIT, JAEGER):
        if required not in all_services:
            problems.append(f"service {required} is missing")
    if problems:
        return problems
    collector = all_services[COLLECTOR]
    env = environment(collector)
    overlays = _bind_mounted_overlays(resolved, collector)
    reads = collector_env_defaults(config_text)
    for overlay in overlays:
        for name, default in env_vars_used(overlay).items():
            reads.setdefault(name, default)

    def effective(name: str) -> str:
        return env.get(name) or reads.get(name) or ""

    for name in sorted(set(env) - set(reads)):
        problems.append(f"services.{COLLECTOR}.environment.{name}: otel-collector.yaml does not read it")

    # The config file itself and the --config arguments.
    config_paths = _config_paths(collector)
    if not config_paths:
        problems.append(f"services.{COLLECTOR}.command: no --config")
    for position, path in enumerate(config_paths):
        mount = _mounted_at(resolved, COLLECTOR, path)
        if mount is None:
            problems.append(f"services.{COLLECTOR}.command: --config={path} is not mounted into the container")
        elif position == 0 and not (mount.kind == "bind" and Path(mount.source).name == COLLECTOR_CONFIG.name):
            problems.append(f"services.{COLLECTOR}: the first --config must be {COLLECTOR_CONFIG.name} (bind mount)")

    # Receiver, health and metrics endpoints: reachable from other containers and declared.
    exposed = exposed_ports(collector)
    if effective("OTELCOL_RECEIVER_HOST") != "0.0.0.0":
        problems.append(f"services.{COLLECTOR}: OTELCOL_RECEIVER_HOST must be 0.0.0.0 (its default binds localhost)")
    grpc_port, http_port = int(effective("OTELCOL_GRPC_PORT")), int(effective("OTELCOL_HTTP_PORT"))
    health = host_port(effective("OTELCOL_HEALTH_ENDPOINT"))
    for label, port in (("OTLP/gRPC", grpc_port), ("OTLP/HTTP", http_port), ("health_check", health and health[1])):
        if port not in exposed:
            problems.append(f"services.{COLLECTOR}.expose: {label} port {port} is not declared")
    if not health or health[0] != "0.0.0.0":
        problems.append(f"services.{COLLECTOR}: OTELCOL_HEALTH_ENDPOINT must bind 0.0.0.0 to be probed from outside")

    # Persistent queue on a named volume.
    queue_dir = env.get("OTELCOL_QUEUE_DIR", "")
    queue_mount = _mounted_at(resolved, COLLECTOR, queue_dir) if queue_dir else None
    if not queue_dir:
        problems.append(f"services.{COLLECTOR}: OTELCOL_QUEUE_DIR is required in the contrib image (no /tmp)")
    elif queue_mount is None or queue_mount.kind != "volume":
        problems.append(f"services.{COLLECTOR}: OTELCOL_QUEUE_DIR {queue_dir} is not on a named volume")

    # Exporter targets.
    jaeger_endpoint = host_port(effective("JAEGER_OTLP_ENDPOINT"))
    if not jaeger_endpoint or jaeger_endpoint[0] not in all_services:
        problems.append(
            f"services.{COLLECTOR}: JAEGER_OTLP_ENDPOINT={effective('JAEGER_OTLP_ENDPOINT')} names no service"
        )
    elif jaeger_endpoint[0] == COLLECTOR:
        problems.append(f"services.{COLLECTOR}: JAEGER_OTLP_ENDPOINT points at the collector itself (a loop)")
    elif jaeger_endpoint[1] != JAEGER_OTLP_GRPC_PORT or jaeger_endpoint[1] not in exposed_ports(
        all_services[jaeger_endpoint[0]]
    ):
        problems.append(
            f"services.{COLLECTOR}: JAEGER_OTLP_ENDPOINT port {jaeger_endpoint[1]} is not Jaeger's OTLP/gRPC port "
            f"{JAEGER_OTLP_GRPC_PORT} (the exporter is otlp_grpc/jaeger)"
        )
    langfuse_host = env.get("LANGFUSE_HOST", "")
    if "LANGFUSE_HOST" not in env:
        problems.append(f"services.{COLLECTOR}: LANGFUSE_HOST is not passed (the Langfuse pipeline can never start)")
    elif langfuse_host and (langfuse_host.endswith("/") or urlsplit(langfuse_host).scheme not in ("http", "https")):
        problems.append(f"services.{COLLECTOR}: LANGFUSE_HOST={langfuse_host} must be an http(s) URL without '/'")

    # Receiver auth: the filter's receiver requires the token, and Pipelines sends exactly that token.
    authenticated = any(
        (overlay.get("receivers") or {}).get("otlp", {}).get("protocols", {}).get("http", {}).get("auth")
        for overlay in overlays
    )
    token = env.get("OTEL_INGEST_TOKEN", "")
    if not authenticated:
        problems.append(
            f"services.{COLLECTOR}: the OTLP receiver has no token: layer collector/overlays/receiver-auth.yaml "
            "(--config, bind mount) and set OTEL_INGEST_TOKEN"
        )
    elif not token:
        problems.append(f"services.{COLLECTOR}.environment: OTEL_INGEST_TOKEN is not set (receiver-auth overlay)")
    pipes = environment(all_services[PIPELINES])
    if authenticated and pipes.get("OTEL_EXPORTER_OTLP_HEADERS") != f"authorization=Bearer%20{token}":
        problems.append(
            f"services.{PIPELINES}.environment.OTEL_EXPORTER_OTLP_HEADERS does not send the collector's "
            "OTEL_INGEST_TOKEN as authorization=Bearer%20<token>"
        )

    # Senders: Open WebUI's own exporter (gRPC unless OTEL_OTLP_SPAN_EXPORTER=http; to its own token-less receiver
    # when an overlay defines one, since it cannot send a bearer token) and the filter in Pipelines.
    owui = environment(all_services[OPEN_WEBUI])
    owui_port = http_port if owui.get("OTEL_OTLP_SPAN_EXPORTER", "grpc") == "http" else grpc_port
    for overlay in overlays:
        openwebui_receiver = (overlay.get("receivers") or {}).get("otlp/openwebui")
        if openwebui_receiver:
            endpoint = host_port(interpolate_collector_env(openwebui_receiver["protocols"]["grpc"]["endpoint"], env))
            owui_port = endpoint[1] if endpoint else 0
            if owui_port not in exposed:
                problems.append(f"services.{COLLECTOR}.expose: Open WebUI's receiver port {owui_port} is not declared")
            if "http" in openwebui_receiver["protocols"] or openwebui_receiver.get("auth"):
                problems.append("otlp/openwebui must stay gRPC-only (its 4 MiB limit is its guard, see the overlay)")
    problems += _check_sender(f"services.{OPEN_WEBUI}", owui, owui_port)
    if owui.get("OTEL_EXPORTER_OTLP_INSECURE", "").lower() != "true":
        problems.append(f"services.{OPEN_WEBUI}: OTEL_EXPORTER_OTLP_INSECURE must be true (plaintext receiver)")
    pipes_port = grpc_port if pipes.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "grpc" else http_port
    problems += _check_sender(f"services.{PIPELINES}", pipes, pipes_port)

    problems += _check_init(resolved, env, config_paths)
    return problems


def _check_sender(where: str, env: Mapping[str, str], port: int) -> list[str]:
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    found = host_port(endpoint)
    if not found or found[0] != COLLECTOR:
        return [f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT={endpoint!r} does not point at the {COLLECTOR} service"]
    if found[1] != port:
        return [
            f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT port {found[1]} is not the collector's receiver port {port} "
            "for this protocol"
        ]
    return []


def _check_init(resolved: Mapping[str, Any], collector_env: Mapping[str, str], config_paths: list[str]) -> list[str]:
    """otelcol-init prepares exactly the queue volume and overlay the collector uses, and runs first."""
    problems: list[str] = []
    all_services = services(resolved)
    init_env = environment(all_services[COLLECTOR_INIT])
    queue_dir = collector_env.get("OTELCOL_QUEUE_DIR", "")
    for init_path, collector_path, label in (
        (init_env.get("QUEUE_DIR", ""), queue_dir, "QUEUE_DIR"),
        (init_env.get("OVERLAY", ""), config_paths[-1] if config_paths else "", "OVERLAY"),
    ):
        init_mount = _mounted_at(resolved, COLLECTOR_INIT, init_path)
        collector_mount = _mounted_at(resolved, COLLECTOR, collector_path)
        if init_path != collector_path:
            problems.append(
                f"services.{COLLECTOR_INIT}.environment.{label}={init_path!r} is not the collector's {collector_path!r}"
            )
        elif not (
            init_mount
            and collector_mount
            and init_mount.kind == collector_mount.kind == "volume"
            and init_mount.source == collector_mount.source
        ):
            problems.append(
                f"services.{COLLECTOR_INIT}: {label} {init_path} is not on a volume shared with {COLLECTOR}"
            )
    if init_env.get("LANGFUSE_HOST") != collector_env.get("LANGFUSE_HOST"):
        problems.append(f"services.{COLLECTOR_INIT}: LANGFUSE_HOST differs from the collector's")
    depends = all_services[COLLECTOR].get("depends_on") or {}
    dependency = depends.get(COLLECTOR_INIT, {}) if isinstance(depends, Mapping) else {}
    if dependency.get("condition") != "service_completed_successfully":
        problems.append(f"services.{COLLECTOR}.depends_on: {COLLECTOR_INIT} must complete successfully first")
    if str(dependency.get("restart", "")).lower() != "true":
        problems.append(
            f"services.{COLLECTOR}.depends_on.{COLLECTOR_INIT}: set `restart: true`, or new keys written by a re-run "
            "init are not loaded"
        )
    return problems


def check_pipelines_wiring(resolved: Mapping[str, Any]) -> list[str]:
    """Open WebUI's connection list reaches Pipelines with its key, and Pipelines installs the mounted filter."""
    problems: list[str] = []
    all_services = services(resolved)
    owui, pipes = environment(all_services[OPEN_WEBUI]), environment(all_services[PIPELINES])

    urls = owui.get("OPENAI_API_BASE_URLS", "").split(";")
    keys = owui.get("OPENAI_API_KEYS", "").split(";")
    if len(urls) != len(keys):
        problems.append(
            f"services.{OPEN_WEBUI}: OPENAI_API_BASE_URLS has {len(urls)} entries but OPENAI_API_KEYS "
            f"{len(keys)} (they are index-aligned)"
        )
    positions = [i for i, url in enumerate(urls) if (host_port(url) or ("",))[0] == PIPELINES]
    if not positions:
        problems.append(f"services.{OPEN_WEBUI}: OPENAI_API_BASE_URLS has no connection to the {PIPELINES} service")
    for position in positions:
        key = keys[position] if position < len(keys) else ""
        if not key or key != pipes.get("PIPELINES_API_KEY"):
            problems.append(
                f"services.{OPEN_WEBUI}: OPENAI_API_KEYS[{position}] is not the Pipelines server's "
                "PIPELINES_API_KEY (an empty or wrong key silently disables the filters)"
            )

    pipelines_dir = pipes.get("PIPELINES_DIR", "")
    dir_mount = _mounted_at(resolved, PIPELINES, pipelines_dir) if pipelines_dir else None
    if dir_mount is None or dir_mount.kind != "volume" or dir_mount.target != pipelines_dir:
        problems.append(f"services.{PIPELINES}: PIPELINES_DIR must be a named volume (it keeps valves.json)")
    filter_ids = []
    for url in filter(None, pipes.get("PIPELINES_URLS", "").split(";")):
        if not url.startswith("file://"):
            continue
        path = url.removeprefix("file://")
        mount = _mounted_at(resolved, PIPELINES, path)
        if mount is None or mount.kind != "bind" or mount.target != path:
            problems.append(f"services.{PIPELINES}: PIPELINES_URLS {url} is not a file bind-mounted at {path}")
        elif pipelines_dir and path.startswith(pipelines_dir.rstrip("/") + "/"):
            problems.append(f"services.{PIPELINES}: mount the filter outside PIPELINES_DIR (start.sh copies it in)")
        filter_ids.append(Path(path).stem)
    if not filter_ids:
        problems.append(f"services.{PIPELINES}: PIPELINES_URLS installs no file:// filter")
    test = (all_services[PIPELINES].get("healthcheck") or {}).get("test") or []
    for filter_id in filter_ids:
        if filter_id not in test:
            problems.append(f"services.{PIPELINES}.healthcheck: does not wait for the filter {filter_id}")
    return problems


# --- schema and everything together ---------------------------------------------------------------------------------


def check_schema(resolved: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Validate an interpolated document against the Compose Specification JSON schema (draft-07)."""
    validator = Draft7Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(resolved), key=lambda error: list(error.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(f"schema: {where}: {error.message}")
    return problems


def check_all(
    compose_text: str,
    env_text: str,
    config_text: str,
    project_dir: Path = REPO_ROOT,
    schema: Mapping[str, Any] | None = None,
) -> list[str]:
    """Every check above on one compose file + .env.example + collector config; the schema check if given."""
    doc = load_compose(compose_text)
    env = parse_env_example(env_text)
    resolved, problems = interpolate_doc(doc, env.values)
    problems += check_variables(doc, env)
    problems += check_mounts(doc, project_dir)
    problems += check_images(doc)
    problems += check_dependencies(doc)
    problems += check_chat_never_waits_for_tracing(doc)
    problems += check_host_ports_are_variables(doc)
    problems += check_ports(resolved)
    problems += check_service_urls(resolved, env)
    problems += check_collector_wiring(resolved, config_text)
    problems += check_pipelines_wiring(resolved)
    if schema is not None:
        problems += check_schema(resolved, schema)
    return problems

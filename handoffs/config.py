"""Loading a runtime config from TOML: decode with msgspec, register user contracts, import
agents, compile the pipelines. Every error names the key, and the line where it can be found.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from handoffs.actors import (
    AgentFactory,
    Pipelines,
    config_problems,
    is_async_agent,
    make_agent_factory,
)
from handoffs.messages import (
    NAME_PATTERN,
    Config,
    ConfigError,
    ContractError,
    ContractRegistry,
    PipelineSpec,
    RoleSpec,
    StageSpec,
    field_of,
    import_object,
)

__all__ = ["MAX_THREADS", "LoadedConfig", "check_config", "load_config"]

#: The most threads one sync role may run (``concurrency``).
MAX_THREADS = 256

T = TypeVar("T")


class LoadedConfig:
    """A decoded, checked config with its contracts registered and its agents imported.

    ``agents`` holds the factory of every role with an ``agent`` import path; a role with an
    ``llm`` table has none here (the runtime builds its model agent). ``asynchronous`` names
    the roles that run on an event loop: ``async def`` agents and model agents.
    """

    def llm_roles(self) -> list[str]:
        """The roles whose agent is a model."""
        return [role for role, spec in self.config.roles.items() if spec.llm is not None]

    def __init__(
        self,
        config: Config,
        registry: ContractRegistry,
        agents: dict[str, AgentFactory],
        source: Path | None = None,
        asynchronous: set[str] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.agents = agents
        self.source = source
        self.pipelines = Pipelines(config, registry)
        self.asynchronous = {r for r, spec in config.roles.items() if spec.llm is not None}
        self.asynchronous |= asynchronous or set()
        problems = _concurrency_problems(config, self.asynchronous) + _size_problems(config)
        if problems:
            raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _decode(text: str, source: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        # msgspec writes a dict key as `[...]`; checking each named table first gives the
        # error its full path (`$.roles.writer.concurrency`).
        for path, raw, tp in _named_tables(data):
            _convert(raw, tp, path)
        return _convert(data, Config, "$")
    except _Invalid as exc:
        unknown = re.search(r"unknown field `([^`]+)`", exc.message)
        where = f"{exc.path}.{unknown.group(1)}" if unknown else exc.path
        raise ConfigError(
            f"{source}: {exc.message}", path=exc.path, line=_line_of(text, where)
        ) from None


class _Invalid(Exception):
    def __init__(self, message: str, path: str) -> None:
        self.message = message
        self.path = path


def _convert(raw: object, tp: type[T], at: str) -> T:
    try:
        return msgspec.convert(raw, tp)
    except msgspec.ValidationError as exc:
        inner = field_of(exc) or "$"
        message = str(exc).split(" - at `")[0]
        raise _Invalid(message, at + inner.removeprefix("$")) from None


def _named_tables(data: dict[str, Any]) -> Iterator[tuple[str, object, type[Any]]]:
    """Each role, pipeline and stage table with its path, inner tables first."""
    for name, raw in _table(data.get("roles")).items():
        yield f"$.roles.{_key(name, '$.roles')}", raw, RoleSpec
    for pname, pipeline in _table(data.get("pipelines")).items():
        at = f"$.pipelines.{_key(pname, '$.pipelines')}"
        for sname, stage in _table(_table(pipeline).get("stages")).items():
            yield f"{at}.stages.{_key(sname, at + '.stages')}", stage, StageSpec
        yield at, pipeline, PipelineSpec


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _key(name: str, at: str) -> str:
    if not re.match(NAME_PATTERN, name):
        raise _Invalid(f"name {name!r} must match {NAME_PATTERN}", at)
    return name


def _line_of(text: str, path: str) -> int | None:
    """Best effort: the line of the TOML key at JSON path ``$.a.b.c``."""
    parts = [p for p in re.split(r"\.|\[\d+\]", path.removeprefix("$")) if p]
    lines = text.splitlines()
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$")
    best: tuple[int, int] | None = None  # (matched parts, line index)
    for i, line in enumerate(lines):
        m = header.match(line)
        if m is None:
            continue
        names = [n.strip().strip('"') for n in m.group(1).split(".")]
        if names == parts[: len(names)] and (best is None or len(names) > best[0]):
            best = (len(names), i)
    start, depth = (best[1] + 1, best[0]) if best else (0, 0)
    rest = parts[depth:]
    if not rest:
        return start if best else None
    key = re.compile(r"(^|[\s{,])" + re.escape(rest[0]) + r"\s*=")
    for i in range(start, len(lines)):
        if i > start and header.match(lines[i]):
            break
        if key.search(lines[i]):
            return i + 1
    return start if best else None


def _read(source: str | Path | Config) -> tuple[Config, ContractRegistry, Path | None]:
    path: Path | None = None
    if isinstance(source, Config):
        config = source
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        config = _decode(text, str(path))
    registry = ContractRegistry()
    for name, import_path in config.contracts.items():
        try:
            registry.register(import_path, name=name)
        except ContractError as exc:
            raise ConfigError(str(exc), path=f"$.contracts.{name}") from None
    return config, registry, path


def _agent(role: str, import_path: str) -> tuple[AgentFactory, bool]:
    """The role's agent factory, and whether the agent is ``async def``."""
    try:
        agent = import_object(import_path)
        return make_agent_factory(agent), is_async_agent(agent)
    except (ContractError, TypeError) as exc:
        raise ConfigError(f"agent of role {role!r}: {exc}", path=f"$.roles.{role}.agent") from None


def _role_problems(config: Config, registry: ContractRegistry) -> list[str]:
    """A role names exactly one of ``agent`` and ``llm``; a model role can be called (its key
    variable is set, its prompt template renders, each of its stages' contracts can be
    sent as a strict schema)."""
    problems: list[str] = []
    for role, spec in config.roles.items():
        at = f"$.roles.{role}"
        if (spec.agent is None) == (spec.llm is None):
            problems.append(f"role {role!r} needs exactly one of `agent` and `llm` at `{at}`")
        elif spec.llm is not None:
            # Imported only for a config with a model role: the SDK takes a while to load.
            from handoffs.llm.check import llm_role_problems

            stages = [
                stage
                for pipeline in config.pipelines.values()
                for stage in pipeline.stages.values()
                if stage.role == role
            ]
            problems.extend(llm_role_problems(role, spec.llm, stages, registry))
    return problems


def _size_problems(config: Config) -> list[str]:
    """An output must fit the store many times over: at most a quarter of the map's cap."""
    cap = config.store.max_map_size
    return [
        f"max_output_bytes {stage.max_output_bytes} is over a quarter of the store's "
        f"max_map_size ({cap}) at `$.pipelines.{pname}.stages.{sname}.max_output_bytes`"
        for pname, pipeline in config.pipelines.items()
        for sname, stage in pipeline.stages.items()
        if stage.max_output_bytes > cap // 4
    ]


def _concurrency_problems(config: Config, asynchronous: set[str]) -> list[str]:
    return [
        f"role {role!r}: a sync agent runs one thread per unit of concurrency, at most "
        f"{MAX_THREADS} (an `async def` agent runs up to 100000 tasks on one event loop) "
        f"at `$.roles.{role}.concurrency`"
        for role, spec in config.roles.items()
        if role not in asynchronous and spec.concurrency > MAX_THREADS
    ]


def load_config(source: str | Path | Config) -> LoadedConfig:
    """Load and check a config from a TOML file path or a ``Config``.

    Raises:
        ConfigError: the file is unreadable or malformed, a contract or agent does not import,
            or the pipelines are unsound; the message names the key (and line).
    """
    config, registry, path = _read(source)
    problems = _role_problems(config, registry)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    agents: dict[str, AgentFactory] = {}
    asynchronous: set[str] = set()
    for role, spec in config.roles.items():
        if spec.agent is not None:
            agents[role], is_async = _agent(role, spec.agent)
            if is_async:
                asynchronous.add(role)
    return LoadedConfig(config, registry, agents, path, asynchronous)


def check_config(source: str | Path) -> list[str]:
    """Every problem of a config file, each naming its key; empty when it is sound."""
    try:
        config, registry, _ = _read(source)
    except ConfigError as exc:
        return [str(exc)]
    problems = _role_problems(config, registry)
    asynchronous: set[str] = set()
    for role, spec in config.roles.items():
        if spec.llm is not None:
            asynchronous.add(role)
        if spec.agent is None:
            continue
        try:
            _, is_async = _agent(role, spec.agent)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if is_async:
            asynchronous.add(role)
    problems += _concurrency_problems(config, asynchronous) + _size_problems(config)
    return problems + config_problems(config, registry)

"""Loading a runtime config from TOML: decode with msgspec, register user contracts, import
agents, compile the pipelines. Every problem is found at once, each naming its key and,
from a file, ``FILE:LINE:`` where that key is written.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

from handoffs.actors import (
    AgentFactory,
    Pipelines,
    config_problems,
    is_async_agent,
    make_agent_factory,
)
from handoffs.config_decode import Key, Problem, decode_config, json_path
from handoffs.config_lines import KeyLines
from handoffs.messages import (
    Config,
    ConfigError,
    ContractError,
    ContractRegistry,
    LLMSpec,
    PipelineSpec,
    RaySpec,
    RoleSpec,
    StageSpec,
    StoreSpec,
    import_object,
)

__all__ = ["MAX_THREADS", "LoadedConfig", "check_config", "inspect_config", "load_config"]

#: The most threads one sync role may run (``concurrency``).
MAX_THREADS = 256


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
            raise ConfigError("invalid config:\n  " + "\n  ".join(p.message for p in problems))


# ------------------------------------------------------------------------------ importing


def _import(path: str) -> object:
    """``import_object``, with any exception the module raises while it imports said in one
    line: a traceback from user code is not what ``handoffs check`` should print."""
    try:
        return import_object(path)
    except ContractError:
        raise
    except (Exception, SystemExit) as exc:
        module = path.partition(":")[0]
        said = " ".join(str(exc).split())
        raise ContractError(
            f"importing module {module!r} raised {type(exc).__name__}"
            + (f": {said}" if said else "")
        ) from None


def _contracts(config: Config) -> tuple[ContractRegistry, list[Problem], set[str]]:
    registry = ContractRegistry()
    problems: list[Problem] = []
    failed: set[str] = set()
    for name, import_path in config.contracts.items():
        key = ("contracts", name)
        try:
            _import(import_path)
            registry.register(import_path, name=name)
        except ContractError as exc:
            problems.append(Problem(f"contract {name!r}: {exc} at `{json_path(key)}`", key))
            failed.add(name)
    return registry, problems, failed


def _agents(
    config: Config,
) -> tuple[dict[str, AgentFactory], set[str], list[Problem]]:
    """Each role's agent factory, the ``async def`` ones, and the agents that do not import."""
    agents: dict[str, AgentFactory] = {}
    asynchronous: set[str] = set()
    problems: list[Problem] = []
    for role, spec in config.roles.items():
        if spec.agent is None:
            continue
        key = ("roles", role, "agent")
        try:
            agent = _import(spec.agent)
            agents[role] = make_agent_factory(agent)
        except (ContractError, TypeError) as exc:
            problems.append(Problem(f"agent of role {role!r}: {exc} at `{json_path(key)}`", key))
            continue
        if is_async_agent(agent):
            asynchronous.add(role)
    return agents, asynchronous, problems


# ------------------------------------------------------------------------------ checking


def _role_problems(config: Config, registry: ContractRegistry) -> list[Problem]:
    """A role names exactly one of ``agent`` and ``llm``; a model role can be called (its key
    variable is set, its prompt template renders, each of its stages' contracts can be
    sent as a strict schema)."""
    problems: list[Problem] = []
    for role, spec in config.roles.items():
        key = ("roles", role)
        if (spec.agent is None) == (spec.llm is None):
            message = f"role {role!r} needs exactly one of `agent` and `llm` at `{json_path(key)}`"
            problems.append(Problem(message, key))
        elif spec.llm is not None:
            # Imported only for a config with a model role: the SDK takes a while to load.
            from handoffs.llm.check import llm_role_problems

            stages = [
                stage
                for pipeline in config.pipelines.values()
                for stage in pipeline.stages.values()
                if stage.role == role
            ]
            problems.extend(
                Problem(p, _key_named(p, config))
                for p in llm_role_problems(role, spec.llm, stages, registry)
            )
    return problems


def _size_problems(config: Config) -> list[Problem]:
    """An output must fit the store many times over: at most a quarter of the map's cap."""
    cap = config.store.max_map_size
    problems: list[Problem] = []
    for pname, pipeline in config.pipelines.items():
        for sname, stage in pipeline.stages.items():
            key = ("pipelines", pname, "stages", sname, "max_output_bytes")
            if stage.max_output_bytes > cap // 4:
                message = (
                    f"max_output_bytes {stage.max_output_bytes} is over a quarter of the "
                    f"store's max_map_size ({cap}) at `{json_path(key)}`"
                )
                problems.append(Problem(message, key))
    return problems


def _concurrency_problems(config: Config, asynchronous: set[str]) -> list[Problem]:
    return [
        Problem(
            f"role {role!r}: a sync agent runs one thread per unit of concurrency, at most "
            f"{MAX_THREADS} (an `async def` agent runs up to 100000 tasks on one event loop) "
            f"at `$.roles.{role}.concurrency`",
            ("roles", role, "concurrency"),
        )
        for role, spec in config.roles.items()
        if role not in asynchronous and spec.concurrency > MAX_THREADS
    ]


def _executor_problems(config: Config) -> list[Problem]:
    """A role on Ray needs Ray installed here (a one-line error naming the role), and a
    ``runtime_env`` Ray accepts; a ``ray`` table on a local role is a mistake, not ignored."""
    problems: list[Problem] = []
    for role, spec in config.roles.items():
        if spec.executor != "ray":
            if spec.ray is not None:
                key: Key = ("roles", role, "ray")
                message = (
                    f'role {role!r}: a `ray` table needs executor = "ray" (this role runs '
                    f"{spec.executor}) at `{json_path(key)}`"
                )
                problems.append(Problem(message, key))
            continue
        if importlib.util.find_spec("ray") is None:
            key = ("roles", role, "executor")
            message = (
                f'role {role!r}: executor = "ray" needs Ray installed '
                f"(pip install 'handoffs[ray]') at `{json_path(key)}`"
            )
            problems.append(Problem(message, key))
            continue
        if spec.ray is not None and spec.ray.runtime_env:
            # Imported only for a config with a role on Ray: Ray takes a while to load.
            from ray.runtime_env import RuntimeEnv

            key = ("roles", role, "ray", "runtime_env")
            try:
                RuntimeEnv(**spec.ray.runtime_env)
            except Exception as exc:
                said = " ".join(str(exc).split())[:300]
                message = f"role {role!r}: runtime_env is not Ray's: {said} at `{json_path(key)}`"
                problems.append(Problem(message, key))
    return problems


def _key_named(message: str, config: Config) -> Key | None:
    """The key a problem found by another module names: the longest key of ``config`` that
    starts it (``pipelines.p.stages.s.next: ...``) or ends it (``... at `$.roles.r.llm```),
    else the role it opens with (``role 'r': ...``)."""
    best: Key | None = None
    for key in _keys(config):
        if len(key) > len(best or ()) and (
            message.startswith(".".join(key) + ":") or message.endswith(f" at `{json_path(key)}`")
        ):
            best = key
    if best is None:
        role = re.match(r"role '([^']+)'", message)
        best = ("roles", role.group(1)) if role else None
    return best


def _keys(config: Config) -> Iterator[Key]:
    for role in config.roles:
        yield ("roles", role)
        yield from (("roles", role, f) for f in RoleSpec.__struct_fields__)
        yield from (("roles", role, "llm", f) for f in LLMSpec.__struct_fields__)
        yield from (("roles", role, "ray", f) for f in RaySpec.__struct_fields__)
    for name in config.contracts:
        yield ("contracts", name)
    for pname, pipeline in config.pipelines.items():
        at = ("pipelines", pname)
        yield at
        yield from ((*at, f) for f in PipelineSpec.__struct_fields__)
        yield from ((*at, "trigger", f) for f in ("kind", "when"))
        for sname in pipeline.stages:
            yield (*at, "stages", sname)
            yield from ((*at, "stages", sname, f) for f in StageSpec.__struct_fields__)
    yield from (("store", f) for f in StoreSpec.__struct_fields__)


def _problems(config: Config) -> tuple[LoadedConfig | None, list[Problem]]:
    """Every problem of a decoded config: contracts, agents, roles, sizes, the pipelines."""
    if not config.pipelines:
        return None, [Problem("no pipelines: a config needs a [pipelines.NAME] table")]
    registry, problems, failed = _contracts(config)
    agents, asynchronous, agent_problems = _agents(config)
    problems += agent_problems + _role_problems(config, registry) + _executor_problems(config)
    asynchronous |= {r for r, spec in config.roles.items() if spec.llm is not None}
    problems += _concurrency_problems(config, asynchronous) + _size_problems(config)
    problems.extend(
        Problem(p, _key_named(p, config))
        for p in config_problems(config, registry)
        # an output naming a contract that did not import is that contract's problem
        if not any(f": unknown contract {name!r} " in p for name in failed)
    )
    if problems:
        return None, problems
    return LoadedConfig(config, registry, agents, None, asynchronous), []


def _inspect(source: str | Path | Config) -> tuple[LoadedConfig | None, list[Problem], str]:
    """The loaded config or every problem (each with its line, from a file), and the file."""
    if isinstance(source, Config):
        loaded, problems = _problems(source)
        return loaded, problems, ""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(f"cannot read config: {exc}")], str(path)
    lines = KeyLines(text)
    config, problems = decode_config(text, lines)
    loaded = None
    if config is not None:
        loaded, problems = _problems(config)
    if loaded is not None:
        loaded.source = path
    located = [
        p if p.line is not None or p.key is None else p._replace(line=lines.line(p.key))
        for p in problems
    ]
    return loaded, located, str(path)


def _said(file: str, problem: Problem) -> str:
    if not file:
        return problem.message
    line = f"{problem.line}:" if problem.line is not None else ""
    return f"{file}:{line} {problem.message}"


def inspect_config(source: str | Path | Config) -> tuple[LoadedConfig | None, list[str]]:
    """The loaded config, or ``None`` and every problem it has, each naming its key, from a
    file as ``FILE:LINE: message`` (``FILE: message`` for the whole file).

    Loading imports the contracts and the agents.
    """
    loaded, problems, file = _inspect(source)
    return loaded, [_said(file, p) for p in problems]


def load_config(source: str | Path | Config) -> LoadedConfig:
    """Load and check a config from a TOML file path or a ``Config``.

    Raises:
        ConfigError: the file is unreadable or malformed, a contract or agent does not import
            (or raises while it imports), or the pipelines are unsound: every problem, one
            per line, as :func:`inspect_config` says them. With one problem, ``path`` and
            ``line`` are its key and line.
    """
    loaded, problems, file = _inspect(source)
    if loaded is not None:
        return loaded
    if len(problems) > 1:
        raise ConfigError("invalid config:\n  " + "\n  ".join(_said(file, p) for p in problems))
    (problem,) = problems
    error = ConfigError(_said(file, problem))
    error.path = json_path(problem.key) if problem.key is not None else None
    error.line = problem.line
    raise error


def check_config(source: str | Path) -> list[str]:
    """Every problem of a config file, each ``FILE:LINE: message`` naming its key; empty when
    the config is sound (its contracts and agents import)."""
    return inspect_config(source)[1]

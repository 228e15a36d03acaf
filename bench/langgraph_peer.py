"""(f) LangGraph on the bench work.

A four-node ``StateGraph`` (``START -> research -> write -> review -> publish -> END``),
invoked from ``window`` threads, run after run; compiled without a checkpointer (in memory),
with ``InMemorySaver``, or with ``SqliteSaver`` on a file and ``durability="sync"`` (each
step's checkpoint is committed before the next step starts). With ``"shape": "fan"``, (h)'s
shape instead: :func:`fan_graph`.

(g), :func:`run_async`: the same graph with async nodes, each first awaiting
``asyncio.sleep(stage_seconds)``, ``in_flight`` ``ainvoke`` calls at once on one event loop,
checkpointed by ``AsyncSqliteSaver`` (aiosqlite, one connection) the same way; the runs still
in flight at the stop are cancelled, not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from bench import work
from bench.footprint import in_flight_figures
from bench.peers import require, stage_on_builtins
from bench.timing import AsyncWindow, Window

__all__ = ["fan_graph", "run", "run_async"]


class _State(TypedDict, total=False):
    topic: str
    research: Any
    write: Any
    review: Any
    publish: Any
    trace: Annotated[list[float], operator.add]


#: The stage whose output each stage works on.
_SOURCE = {"write": "research", "review": "write", "publish": "write"}


def _node(stage: str, wait: float | None) -> Any:
    """The stage as a node; with ``wait``, an async node that first sleeps that long."""
    source = _SOURCE.get(stage)

    def node(state: _State) -> dict[str, Any]:
        previous = state.get(source) if source else None
        return {stage: stage_on_builtins(stage, previous, state["topic"]), "trace": [time.time()]}

    async def waiting_node(state: _State) -> dict[str, Any]:
        await asyncio.sleep(wait or 0.0)
        return node(state)

    chosen = node if wait is None else waiting_node
    chosen.__name__ = stage
    return chosen


def _graph(wait: float | None = None) -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(_State)
    previous = START
    for stage in work.STAGES:
        graph.add_node(stage, _node(stage, wait))
        graph.add_edge(previous, stage)
        previous = stage
    graph.add_edge(previous, END)
    return graph


class _FanState(TypedDict, total=False):
    topic: str
    research: Any
    blog: Any
    faq: Any
    changelog: Any
    summary: Any
    publish: Any
    trace: Annotated[list[float], operator.add]


#: (h)'s branches (as in :data:`bench.fanout.BRANCHES`).
_BRANCHES = ("blog", "faq", "changelog", "summary")


def fan_graph() -> Any:
    """(h): ``START -> research -> (blog, faq, changelog, summary) -> publish -> END``, the
    branches as parallel edges (one superstep; LangGraph runs them on its executor's
    threads), ``publish`` waiting for all four."""
    from langgraph.graph import END, START, StateGraph

    def research(state: _FanState) -> dict[str, Any]:
        value = stage_on_builtins("research", None, state["topic"])
        return {"research": value, "trace": [time.time()]}

    def branch(name: str) -> Any:
        def node(state: _FanState) -> dict[str, Any]:
            value = stage_on_builtins("write", state["research"], state["topic"])
            return {name: value, "trace": [time.time()]}

        node.__name__ = name
        return node

    def publish(state: _FanState) -> dict[str, Any]:
        value = stage_on_builtins("publish", state["blog"], state["topic"])
        return {"publish": value, "trace": [time.time()]}

    graph = StateGraph(_FanState)
    graph.add_node("research", research)
    graph.add_node("publish", publish)
    graph.add_edge(START, "research")
    for name in _BRANCHES:
        graph.add_node(name, branch(name))
        graph.add_edge("research", name)
    graph.add_edge(list(_BRANCHES), "publish")
    graph.add_edge("publish", END)
    return graph


def run(params: dict[str, Any]) -> dict[str, Any]:
    """``window`` threads each invoking the graph for ``warmup + duration`` seconds.

    ``checkpointer`` is ``"none"``, ``"memory"`` (``InMemorySaver``) or ``"sqlite"``
    (``SqliteSaver`` on a file, ``durability="sync"``); ``shape`` is ``"chain"`` (the
    default) or ``"fan"`` (:func:`fan_graph`).
    """
    kind: str = params["checkpointer"]
    build = fan_graph if params.get("shape") == "fan" else _graph
    require("langgraph-sqlite" if kind == "sqlite" else "langgraph")
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-", dir=params.get("data_root")) as d:
        invoke_kw: dict[str, Any] = {}
        conn: sqlite3.Connection | None = None
        if kind == "none":
            app = build().compile()
        elif kind == "memory":
            from langgraph.checkpoint.memory import InMemorySaver

            app = build().compile(checkpointer=InMemorySaver())
        else:
            from langgraph.checkpoint.sqlite import SqliteSaver

            conn = sqlite3.connect(str(Path(d) / "checkpoints.db"), check_same_thread=False)
            app = build().compile(checkpointer=SqliteSaver(conn))
            invoke_kw["durability"] = "sync"
        checkpointed = kind != "none"
        holder: list[Window] = []

        def start(i: int) -> None:
            config = {"configurable": {"thread_id": f"run-{i}"}} if checkpointed else None
            out = app.invoke({"topic": f"topic {i}", "trace": [time.time()]}, config, **invoke_kw)
            holder[0].finish(out["trace"])

        window: int = params["window"]
        holder.append(Window(start, window=window, submitters=window))
        try:
            result = holder[0].run(warmup=params["warmup"], duration=params["duration"])
        finally:
            if conn is not None:
                extra["sqlite_journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
                extra["sqlite_synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
                conn.close()
    result["extra"] = extra
    return result


def run_async(params: dict[str, Any]) -> dict[str, Any]:
    """(g): ``in_flight`` runs of the async graph at once, each node waiting
    ``stage_seconds``; ``checkpointer`` as for :func:`run` (``"sqlite"``: AsyncSqliteSaver)."""
    require("langgraph-sqlite" if params["checkpointer"] == "sqlite" else "langgraph")
    return asyncio.run(_run_async(params))


async def _run_async(params: dict[str, Any]) -> dict[str, Any]:
    kind: str = params["checkpointer"]
    wait: float = params["stage_seconds"]
    in_flight: int = params["in_flight"]
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-", dir=params.get("data_root")) as d:
        async with contextlib.AsyncExitStack() as stack:
            invoke_kw: dict[str, Any] = {}
            saver: Any = None
            if kind == "memory":
                from langgraph.checkpoint.memory import InMemorySaver

                saver = InMemorySaver()
            elif kind == "sqlite":
                from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

                path = str(Path(d) / "checkpoints.db")
                saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(path))
                invoke_kw["durability"] = "sync"
            app = _graph(wait).compile(checkpointer=saver)
            running: set[asyncio.Task[None]] = set()
            errors: list[BaseException] = []
            windows: list[AsyncWindow] = []

            async def one(i: int) -> None:
                config = {"configurable": {"thread_id": f"run-{i}"}} if saver else None
                try:
                    out = await app.ainvoke(
                        {"topic": f"topic {i}", "trace": [time.time()]}, config, **invoke_kw
                    )
                except Exception as exc:
                    errors.append(exc)
                    raise
                windows[0].finish(out["trace"])

            async def start(i: int) -> None:
                task = asyncio.create_task(one(i))
                running.add(task)
                task.add_done_callback(running.discard)

            windows.append(AsyncWindow(start, window=in_flight, ramp=4 * wait, footprint=True,
                                       drain=False))  # fmt: skip
            result = await windows[0].run(warmup=params["warmup"], duration=params["duration"])
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            if errors:
                raise errors[0]
            if kind == "sqlite":
                for pragma in ("journal_mode", "synchronous"):
                    async with saver.conn.execute(f"PRAGMA {pragma}") as cursor:
                        extra[f"sqlite_{pragma}"] = (await cursor.fetchone())[0]
    result["extra"] = extra
    return in_flight_figures(result, in_flight, wait)

"""(f) LangGraph on the bench work.

A four-node ``StateGraph`` (``START -> research -> write -> review -> publish -> END``),
invoked from ``window`` threads, run after run; compiled without a checkpointer (in memory),
with ``InMemorySaver``, or with ``SqliteSaver`` on a file and ``durability="sync"`` (each
step's checkpoint is committed before the next step starts).
"""

from __future__ import annotations

import operator
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from bench import work
from bench.peers import require, stage_on_builtins
from bench.timing import Window

__all__ = ["run"]


class _State(TypedDict, total=False):
    topic: str
    research: Any
    write: Any
    review: Any
    publish: Any
    trace: Annotated[list[float], operator.add]


#: The stage whose output each stage works on.
_SOURCE = {"write": "research", "review": "write", "publish": "write"}


def _node(stage: str) -> Any:
    source = _SOURCE.get(stage)

    def node(state: _State) -> dict[str, Any]:
        previous = state.get(source) if source else None
        return {stage: stage_on_builtins(stage, previous, state["topic"]), "trace": [time.time()]}

    node.__name__ = stage
    return node


def _graph() -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(_State)
    previous = START
    for stage in work.STAGES:
        graph.add_node(stage, _node(stage))
        graph.add_edge(previous, stage)
        previous = stage
    graph.add_edge(previous, END)
    return graph


def run(params: dict[str, Any]) -> dict[str, Any]:
    """``window`` threads each invoking the graph for ``warmup + duration`` seconds.

    ``checkpointer`` is ``"none"``, ``"memory"`` (``InMemorySaver``) or ``"sqlite"``
    (``SqliteSaver`` on a file, ``durability="sync"``).
    """
    kind: str = params["checkpointer"]
    require("langgraph-sqlite" if kind == "sqlite" else "langgraph")
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-", dir=params.get("data_root")) as d:
        invoke_kw: dict[str, Any] = {}
        conn: sqlite3.Connection | None = None
        if kind == "none":
            app = _graph().compile()
        elif kind == "memory":
            from langgraph.checkpoint.memory import InMemorySaver

            app = _graph().compile(checkpointer=InMemorySaver())
        else:
            from langgraph.checkpoint.sqlite import SqliteSaver

            conn = sqlite3.connect(str(Path(d) / "checkpoints.db"), check_same_thread=False)
            app = _graph().compile(checkpointer=SqliteSaver(conn))
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

"""One repeat of one row, in a fresh process: ``python -m bench.child PARAMS_JSON RESULT_JSON``.

``PARAMS_JSON`` is a file holding ``{"runner": "module:function", "params": {...}}``. The
result file gets the runner's measurements, ``{"skipped": reason}`` when a peer is missing,
or ``{"error": text}``. With ``"profile"`` in the file, py-spy samples this process while the
runner runs and writes its collapsed stacks there.

Fairness: every row, ours, the floors' and the peers', runs under the same interpreter
settings, set here before the runner starts: ``"interpreter"`` in the file (``switch_interval``
seconds, ``gc_threshold``: the youngest generation's, raised to at least that; ``null`` leaves
one as CPython has it), by default what ``handoffs serve`` uses
(:data:`handoffs.interpreter.TUNING`). Our runtime is opened without settings of its own, so
it runs under exactly these. The result says what the row ran under (``"interpreter"``).
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["interpreter_settings", "interrupt", "main", "set_interpreter"]


def set_interpreter(spec: dict[str, Any] | None) -> None:
    """Apply the job's interpreter settings (``None``: the daemon's) to this process."""
    from handoffs.interpreter import TUNING, tune

    settings = dict(TUNING) if spec is None else spec
    tune(settings.get("switch_interval"), settings.get("gc_threshold"))


def interpreter_settings() -> dict[str, Any]:
    """What this process runs under: the GIL switch interval (s) and the GC thresholds."""
    return {
        "switch_interval": sys.getswitchinterval(),
        "gc_threshold": list(gc.get_threshold()),
        "gc_enabled": gc.isenabled(),
    }


def _start_profiler(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args = [
        py_spy, "record", "--pid", str(os.getpid()), "--rate", str(spec.get("rate", 200)),
        "--format", "raw", "--threads", "--nonblocking", "--output", spec["output"],
    ]  # fmt: skip
    if spec.get("gil"):
        args.append("--gil")
    if spec.get("idle"):
        args.append("--idle")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches before the measured work starts
    if proc.poll() is not None:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"py-spy did not start: {error}")
    return proc


def interrupt(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """Stop a helper process as Ctrl-C would (py-spy writes its output then), killing it
    when it has not exited within ``timeout`` seconds."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job["runner"]`` on ``job["params"]``; peers missing come back as skipped."""
    from bench.peers import PeerMissing

    module_name, _, function = job["runner"].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith(("bench", "handoffs")):
            return {"skipped": f"{exc.name} is not installed (pip install -e '.[bench]')"}
        raise
    runner = getattr(module, function)
    set_interpreter(job.get("interpreter"))
    settings = interpreter_settings()
    profiler = _start_profiler(job["profile"]) if job.get("profile") else None
    try:
        result: dict[str, Any] = runner(job["params"])
    except PeerMissing as exc:
        return {"skipped": str(exc)}
    finally:
        if profiler is not None:
            interrupt(profiler)
    if interpreter_settings() != settings:  # the runner changed them: say so
        settings["changed_to"] = interpreter_settings()
    result["interpreter"] = settings
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point; always writes the result file (an error is a result too)."""
    faulthandler.enable()  # a crash in an extension module leaves its stacks on stderr
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text())
    try:
        result = run(job)
    except BaseException as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    Path(args[1]).write_text(json.dumps(result, allow_nan=True))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # a peer's stray non-daemon thread must not keep the process alive

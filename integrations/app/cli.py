"""``rocketmq-py run module:app``: run a :class:`~integrations.app.RocketMQApp` until stopped.

::

    rocketmq-py run myservice.workers:app --namesrv 127.0.0.1:9876 --concurrency 8
    rocketmq-py run myservice.workers:app --log-level debug

* ``module:attribute`` names the application (``attribute`` may be dotted); the current
  directory is importable, as with ``python -m``.
* ``--namesrv`` overrides the application's name servers (else the app's own, else
  ``$NAMESRV_ADDR``); the name server is asked for the cluster before anything starts.
* ``--concurrency N`` is the handler calls at once of each group whose subscribers did not set
  their own ``concurrency``.
* At start it prints one ``subscribed topic=... tags=... group=... model=... handler=...``
  line per subscriber, then ``running``.
* SIGTERM or SIGINT (Ctrl+C) stops it gracefully: consumers stop pulling, in-flight handlers
  finish (up to the app's ``shutdown_timeout``), offsets are committed, the shutdown hooks
  run, and it exits 0. A second signal during the shutdown is ignored; use SIGKILL to abort
  (unfinished messages are then redelivered).

Exit status: 0 after a graceful stop; 2 for a usage mistake (bad arguments, a module that
does not import, no such attribute, not a RocketMQApp, no or unreachable name server), each
reported in one line with no traceback; 1 when the application fails while running.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import anyio

from integrations.app._app import RocketMQApp, env_namesrv
from rocketmq_py import AsyncAdmin, RocketMQError

__all__ = ["main"]

PROG = "rocketmq-py"
#: Seconds to wait for the name server's answer before calling it unreachable.
NAMESRV_CHECK_TIMEOUT = 10.0
_LEVELS = ("debug", "info", "warning", "error", "critical")


class UsageError(Exception):
    """A user mistake: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Run rocketmq-py applications.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="run a RocketMQApp until SIGTERM/SIGINT",
        description="Run a RocketMQApp: one push consumer per group plus a producer, until "
        "SIGTERM or SIGINT, then stop gracefully (in-flight handlers finish, offsets are "
        "committed) and exit 0.",
    )
    run.add_argument("app", metavar="MODULE:APP", help="where the app is, e.g. orders.worker:app")
    run.add_argument("--namesrv", metavar="ADDR", help="name server(s), host:port;host:port")
    run.add_argument(
        "--concurrency",
        metavar="N",
        type=_positive_int,
        help="handler calls at once per group (groups that set their own keep it)",
    )
    run.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=_LEVELS,
        help="logging level (default: info)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def load_app(spec: str) -> RocketMQApp:
    """Import ``module:attribute`` and return the RocketMQApp it names.

    Raises:
        UsageError: a malformed spec, a module that fails to import, a missing attribute, or
            an object that is not a RocketMQApp.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"expected MODULE:APP (e.g. orders.worker:app), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            message = f"cannot import {module_name!r}: no module named {exc.name!r}"
            raise UsageError(message) from exc
        raise UsageError(_failed_import(module_name, exc)) from exc
    except Exception as exc:  # the user's module raised while importing
        raise UsageError(_failed_import(module_name, exc)) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(obj, RocketMQApp):
        raise UsageError(f"{spec} is a {type(obj).__name__}, not a RocketMQApp")
    return obj


def _failed_import(module_name: str, exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (
        f"importing {module_name!r} raised {type(exc).__name__}: {text} "
        "(run 'python -c \"import " + module_name + "\"' to see the traceback)"
    )


async def _check_namesrv(addr: str) -> None:
    try:
        with anyio.fail_after(NAMESRV_CHECK_TIMEOUT):
            async with AsyncAdmin(addr) as admin:
                await admin.cluster_info()
    except TimeoutError:
        message = f"name server {addr} did not answer in {NAMESRV_CHECK_TIMEOUT:.0f} s"
        raise UsageError(message) from None
    except (RocketMQError, OSError) as exc:
        message = f"cannot reach name server {addr}: {' '.join(str(exc).split())}"
        raise UsageError(message) from exc


async def _serve(app: RocketMQApp) -> None:
    stop = anyio.Event()

    async def watch_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if not stop.is_set():
                    name = signal.Signals(signum).name
                    print(f"{PROG}: {name}: stopping (finishing in-flight handlers)", flush=True)
                    stop.set()

    async with anyio.create_task_group() as tg:
        # Signals are watched before anything starts, so one that arrives while starting
        # still stops the application (right after it started).
        tg.start_soon(watch_signals)
        try:
            addr = env_namesrv(app)
            if addr is None:
                raise UsageError("no name server: pass --namesrv or set NAMESRV_ADDR")
            await _check_namesrv(addr)
            async with app:
                for line in app.describe():
                    print(f"{PROG}: subscribed {line}", flush=True)
                if not app.groups:
                    print(f"{PROG}: the application has no subscribers", flush=True)
                print(f"{PROG}: running (name server {addr}); SIGTERM or Ctrl+C stops", flush=True)
                await stop.wait()
        finally:
            tg.cancel_scope.cancel()
    print(f"{PROG}: stopped", flush=True)


def _unwrap(exc: BaseException) -> BaseException:
    """The first leaf of (nested) exception groups a task group raised."""
    # Duck-typed: BaseExceptionGroup is a builtin only from Python 3.11.
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rocketmq-py``; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        app = load_app(args.app)
        if args.namesrv:
            app.namesrv_addr = args.namesrv
        if args.concurrency is not None:
            app.concurrency = args.concurrency
        anyio.run(_serve, app)
    except BaseException as raised:
        exc = _unwrap(raised)
        if isinstance(exc, UsageError):
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, KeyboardInterrupt):
            return 130
        if isinstance(exc, Exception):
            logging.getLogger("rocketmq_py.app").debug("application failed", exc_info=exc)
            text = " ".join(str(exc).split())
            print(f"{PROG}: error: {type(exc).__name__}: {text}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

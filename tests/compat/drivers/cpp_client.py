"""Drive Apache rocketmq-client-cpp (through its official binding rocketmq-client-python) for
``tests/compat/test_sdk_interop.py``. One JSON object per stdout line.

Run with the cpp peer's interpreter, HOME pointing at a temporary directory:

    /tmp/peers/venv-cpp/bin/python cpp_client.py consume --namesrv H:P --topic T --group G ...
    /tmp/peers/venv-cpp/bin/python cpp_client.py produce --namesrv H:P [--batch] < messages.json

consume: a PushConsumer (CLUSTERING or BROADCASTING) on ``--topic``. Prints ``{"event": "ready"}``
    once started, then ``{"event": "message", ...}`` per delivery. Exits 0 once ``--expect``
    distinct messages (by UNIQ_KEY, else msg id) arrived, 1 at ``--timeout``. With
    ``--expect 0`` it consumes until stdin closes (or reads ``stop``), then exits 0.
    The binding cannot choose where a new group starts (no ConsumeFromWhere setter): it relies on
    the broker answering a fresh group with offset 0 on a queue that still starts at 0.
produce: reads a JSON list of ``{"topic", "tags", "keys", "body_b64", "properties"}`` from stdin
    and sends each with send_sync (``--batch``: all in one SendBatchMessage). Prints
    ``{"event": "sent", "index", "status", "msg_id", "offset"}`` per send (one for a batch).

What the binding can read from a received message: topic, tags, keys, the body (a C string:
it stops at the first NUL byte, so only NUL-free bodies come back whole), the msg id, queue
id/offset, and any property *by name* (GetMessageProperty): nothing lists the property names,
so ``--props`` says which ones to read.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import os
import sys
import tempfile
import threading
import time
from typing import Any

from rocketmq.client import ConsumeStatus, Message, MessageModel, Producer, PushConsumer
from rocketmq.ffi import _CSendResult, dll

SYSTEM_PROPS = ("UNIQ_KEY", "TAGS", "KEYS", "WAIT")
_print_lock = threading.Lock()


def emit(**fields: object) -> None:
    line = json.dumps(fields, ensure_ascii=True)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def log_dir() -> bytes:
    path = os.path.join(os.environ.get("HOME") or tempfile.gettempdir(), "cpp-client-logs")
    os.makedirs(path, exist_ok=True)
    return path.encode()


def consume(args: argparse.Namespace) -> int:
    model = MessageModel.BROADCASTING if args.model == "broadcasting" else MessageModel.CLUSTERING
    consumer = PushConsumer(args.group, message_model=model)
    dll.SetPushConsumerLogPath(consumer._handle, log_dir())
    consumer.set_instance_name(args.instance or f"cpp-{os.getpid()}")
    consumer.set_name_server_address(args.namesrv)
    props = [p for p in args.props.split(",") if p] + list(SYSTEM_PROPS)
    seen: set[str] = set()
    done = threading.Event()
    lock = threading.Lock()

    def on_message(msg: Any) -> int:
        properties = {}
        for name in props:
            value = text(msg.get_property(name))
            if value:  # a missing property reads as ""
                properties[name] = value
        msg_id = text(msg.id)
        body = msg.body or b""
        emit(
            event="message",
            topic=text(msg.topic),
            tags=text(msg.tags),
            keys=text(msg.keys),
            body_b64=base64.b64encode(body).decode(),
            properties=properties,
            msg_id=msg_id,
            queue_id=msg.queue_id,
            queue_offset=msg.queue_offset,
            reconsume_times=msg.reconsume_times,
        )
        with lock:
            seen.add(properties.get("UNIQ_KEY") or msg_id or "")
            if args.expect and len(seen) >= args.expect:
                done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    consumer.subscribe(args.topic, on_message, expression=args.expression)
    consumer.start()
    emit(event="ready")
    if args.expect:
        ok = done.wait(args.timeout)
        if ok and args.linger:
            time.sleep(args.linger)  # let any duplicate delivery show up
    else:

        def watch_stdin() -> None:
            for line in sys.stdin:
                if line.strip() == "stop":
                    break
            done.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        ok = done.wait(args.timeout)
    with lock:
        count = len(seen)
    emit(event="done", ok=ok, distinct=count)
    consumer.shutdown()
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # librocketmq threads can linger at interpreter exit


def build(spec: dict[str, object]) -> Message:
    msg = Message(str(spec["topic"]))
    if spec.get("tags"):
        msg.set_tags(str(spec["tags"]))
    if spec.get("keys"):
        msg.set_keys(str(spec["keys"]))
    body = base64.b64decode(str(spec["body_b64"]))
    # SetByteMessageBody takes a length, so any bytes (NUL included) go out whole.
    if dll.SetByteMessageBody(msg._handle, body, len(body)) != 0:
        raise RuntimeError("SetByteMessageBody failed")
    for name, value in dict(spec.get("properties") or {}).items():
        msg.set_property(str(name), str(value))
    return msg


def produce(args: argparse.Namespace) -> int:
    specs = json.load(sys.stdin)
    producer = Producer(args.group or f"PG_cpp_{os.getpid()}", timeout=5000)
    dll.SetProducerLogPath(producer._handle, log_dir())
    producer.set_name_server_address(args.namesrv)
    producer.start()
    code = 0
    try:
        messages = [build(spec) for spec in specs]
        if args.batch:
            batch = dll.CreateBatchMessage()
            for msg in messages:
                dll.AddMessage(batch, msg._handle)
            result = _CSendResult()
            status = dll.SendBatchMessage(producer._handle, batch, ctypes.byref(result))
            dll.DestroyBatchMessage(batch)
            if status != 0:
                emit(event="error", error=text(dll.GetLatestErrorMessage()))
                code = 2
            else:
                emit(
                    event="sent",
                    index=0,
                    status=int(result.sendStatus),
                    msg_id=result.msgId.decode(),
                    offset=result.offset,
                )
        else:
            for index, msg in enumerate(messages):
                sent = producer.send_sync(msg)
                emit(
                    event="sent",
                    index=index,
                    status=int(sent.status),
                    msg_id=sent.msg_id,
                    offset=sent.offset,
                )
    except Exception as exc:
        emit(event="error", error=f"{type(exc).__name__}: {exc}")
        code = 2
    producer.shutdown()
    sys.stdout.flush()
    os._exit(code)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    con = sub.add_parser("consume", help="push consumer printing every message")
    con.add_argument("--namesrv", required=True)
    con.add_argument("--topic", required=True)
    con.add_argument("--group", required=True)
    con.add_argument("--expression", default="*")
    con.add_argument("--model", choices=["clustering", "broadcasting"], default="clustering")
    con.add_argument("--instance", default=None, help="instance name (default cpp-<pid>)")
    con.add_argument("--props", default="", help="comma-separated property names to read")
    con.add_argument("--expect", type=int, default=0, help="exit after N distinct messages")
    con.add_argument("--linger", type=float, default=0.0, help="seconds to wait after --expect")
    con.add_argument("--timeout", type=float, default=60.0)
    pro = sub.add_parser("produce", help="send the JSON list of messages read from stdin")
    pro.add_argument("--namesrv", required=True)
    pro.add_argument("--group", default=None)
    pro.add_argument("--batch", action="store_true", help="send all in one batch")
    args = parser.parse_args()
    return consume(args) if args.command == "consume" else produce(args)


if __name__ == "__main__":
    sys.exit(main())

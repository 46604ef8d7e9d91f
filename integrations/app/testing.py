"""``TestBroker``: run an application's handlers in memory, for fast unit tests.

::

    from integrations.app.testing import TestBroker
    from myservice import app, bill

    async def test_bill() -> None:
        async with TestBroker(app) as br:
            await br.publish("Orders", {"id": 7, "total": 12}, tags="Created")
            br.calls(bill).assert_called_once_with({"id": 7, "total": 12})
            assert br.published("Invoices")[0].body == b'{"order":7,"amount":12}'

**Routing is in memory** (as FastStream's TestBroker): no name server, broker, producer or
consumer is started and no socket is opened, so a test takes milliseconds. While the block
runs, everything the application publishes (:meth:`RocketMQApp.publish`, publisher return
values) is routed here instead of to RocketMQ. What is the same as production: the subscriber
chosen (topic, tag filter ``A || B`` matched exactly as the broker does, one copy per group),
payload decoding, the handler call (sync handlers in a worker thread), publisher results,
log lines, and the retry decision. What differs:

* ``publish`` awaits every handler it causes (including chained publishers) before returning.
* Retries happen at once: no ``%RETRY%`` topic, no delay levels, ``Retry(delay=...)`` is not
  waited for. A failed message is handed to its handler again with ``reconsume_times`` one
  higher until it succeeds or ``max_reconsume_times`` redeliveries failed; then it is recorded
  in :attr:`TestBroker.dead_letters` (as ``%DLQ%<group>``). Broadcasting groups are not
  retried, as in RocketMQ, except orderly ones, which retry in place and then drop the message
  (not dead-lettered: broadcasting has no DLQ). Pass ``retries=False`` to record one attempt
  only.
* Timer messages (``delay=``) are delivered at once; ``sharding_key`` and ordering across
  queues are not modelled (there is one queue); message ids are random.
* Lifecycle hooks run on enter and exit unless ``run_hooks=False``.

A handler exception is re-raised by :meth:`TestBroker.publish` once the message is
dead-lettered (``raise_errors=True``, the default), so a bug fails the test where it happened;
``Retry`` and decode errors are recorded, not raised.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from integrations.app._app import RocketMQApp
from integrations.app._handlers import Delivery, GroupSpec, max_reconsume, original
from integrations.app._payload import encode_payload
from rocketmq_py import (
    Message,
    MessageQueueRef,
    MessageView,
    SendResult,
    SendStatus,
)

__all__ = ["Calls", "DeadLetter", "TestBroker"]

_BROKER = "test-broker"
#: Publishes that publish (handlers feeding handlers) deeper than this are a loop.
MAX_CHAIN_DEPTH = 64


class Calls(Sequence[Delivery]):
    """The recorded calls of one handler, with mock-like assertions."""

    def __init__(self, name: str, deliveries: list[Delivery]) -> None:
        self.name = name
        self._deliveries = deliveries

    def __getitem__(self, index: Any) -> Any:
        return self._deliveries[index]

    def __len__(self) -> int:
        return len(self._deliveries)

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self._deliveries)

    @property
    def payloads(self) -> list[Any]:
        """The decoded payloads the handler was called with, in order."""
        return [d.payload for d in self._deliveries if d.decoded]

    @property
    def called(self) -> bool:
        """Whether the handler was called at least once."""
        return bool(self.payloads)

    @property
    def call_count(self) -> int:
        """How often the handler was called (retries included; decode failures excluded)."""
        return len(self.payloads)

    def called_with(self, payload: Any) -> bool:
        """Whether some call got ``payload``."""
        return payload in self.payloads

    def assert_called_with(self, payload: Any) -> None:
        """Assert the last call got ``payload``."""
        if not self.payloads:
            raise AssertionError(f"{self.name} was not called")
        if self.payloads[-1] != payload:
            raise AssertionError(
                f"{self.name} was last called with {self.payloads[-1]!r}, not {payload!r}"
            )

    def assert_called_once_with(self, payload: Any) -> None:
        """Assert exactly one call, with ``payload``."""
        if self.call_count != 1:
            raise AssertionError(f"{self.name} was called {self.call_count} times, not once")
        self.assert_called_with(payload)

    def assert_not_called(self) -> None:
        """Assert the handler never ran."""
        if self.called:
            raise AssertionError(f"{self.name} was called {self.call_count} times")


@dataclass(frozen=True)
class DeadLetter:
    """A message that exhausted its retries: where RocketMQ would have put it, and why."""

    topic: str
    message: MessageView
    last: Delivery


class TestBroker:
    """Routes an application's messages to its handlers in memory (see the module docs).

    Args:
        app: the application under test.
        retries: redeliver failed messages at once (up to ``max_reconsume_times``).
        raise_errors: re-raise a handler's exception from :meth:`publish` once its message is
            dead-lettered.
        run_hooks: run the ``on_startup`` / ``on_shutdown`` hooks on enter and exit.
    """

    __test__ = False  # its name starts with "Test": tell pytest it is not a test class

    def __init__(
        self,
        app: RocketMQApp,
        *,
        retries: bool = True,
        raise_errors: bool = True,
        run_hooks: bool = True,
    ) -> None:
        self.app = app
        self.retries = retries
        self.raise_errors = raise_errors
        self.run_hooks = run_hooks
        self.deliveries: list[Delivery] = []
        self.dead_letters: list[DeadLetter] = []
        self._published: list[Message] = []
        self._offsets = itertools.count()
        self._depth = 0
        self._loop: RuntimeError | None = None

    async def __aenter__(self) -> TestBroker:
        if self.app._test_broker is not None:
            raise RuntimeError("this application is already under a TestBroker")
        self.app._test_broker = self
        try:
            if self.run_hooks:
                await self.app.run_hooks(self.app._on_startup)
        except BaseException:
            self.app._test_broker = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.run_hooks:
                await self.app.run_hooks(self.app._on_shutdown)
        finally:
            self.app._test_broker = None

    # -- publishing ---------------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        payload: object,
        *,
        tags: str | None = None,
        keys: str | Sequence[str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> list[Delivery]:
        """Publish as a producer outside the application would.

        Returns every handler call it caused, in order: retries, and the calls of messages
        its handlers published in turn.
        """
        message = Message(
            topic, encode_payload(payload), tags=tags, keys=keys, properties=properties or {}
        )
        return await self._dispatch(message)

    async def route(self, message: Message) -> SendResult:
        """The application's send path while under test: record ``message``, run handlers.

        Raises:
            ConfigError: a bad property or delay, as the producer would raise it.
        """
        message.wire_properties()  # checked before it is recorded as published
        self._published.append(message)
        view = await self._dispatch_view(message)
        return SendResult(
            status=SendStatus.SEND_OK,
            msg_id=view.msg_id,
            offset_msg_id=view.offset_msg_id,
            queue=view.queue,
            queue_offset=view.queue_offset,
        )

    async def _dispatch(self, message: Message) -> list[Delivery]:
        before = len(self.deliveries)
        await self._dispatch_view(message)
        return self.deliveries[before:]

    def _raise_loop(self) -> None:
        """At the outermost publish, raise the loop error that stopped a chain of handlers."""
        if self._depth == 0 and self._loop is not None:
            error, self._loop = self._loop, None
            raise error

    async def _dispatch_view(self, message: Message) -> MessageView:
        view = self._view(message)
        if self._loop is not None:  # unwinding a loop: deliver nothing more
            raise self._loop
        if self._depth >= MAX_CHAIN_DEPTH:
            # The handler that published sees this as a failed publish (and would retry), so
            # it is also kept, to stop the retries and be raised by the outermost publish.
            self._loop = RuntimeError(
                f"handlers published {MAX_CHAIN_DEPTH} levels deep (to {message.topic!r}); "
                "a publisher probably feeds its own subscriber"
            )
            raise self._loop
        self._depth += 1
        try:
            for spec in self.app.groups.values():
                await self._consume(spec, view)
        finally:
            self._depth -= 1
        self._raise_loop()
        return view

    async def _consume(self, spec: GroupSpec, view: MessageView) -> None:
        sub = spec.route(view)
        if sub is None:
            return
        # The push consumer's rule: broadcasting retries only when orderly (in place).
        retrying = self.retries and (spec.orderly or not spec.broadcasting)
        message = view
        while True:
            delivery = await self.app.deliver(sub, message)
            self.deliveries.append(delivery)
            if delivery.ok:
                return
            if not retrying or self._loop is not None:
                break
            if message.reconsume_times >= max_reconsume(spec):
                if not spec.broadcasting:
                    self.dead_letters.append(DeadLetter(f"%DLQ%{spec.group}", message, delivery))
                break
            message = replace(message, reconsume_times=message.reconsume_times + 1)
        if self.raise_errors and delivery.error is not None and delivery.decoded:
            raise delivery.error

    def _view(self, message: Message) -> MessageView:
        now = int(time.time() * 1000)
        msg_id = uuid.uuid4().hex.upper()
        properties = message.wire_properties()
        properties["UNIQ_KEY"] = msg_id
        offset = next(self._offsets)
        return MessageView(
            topic=message.topic,
            body=message.body_bytes(),
            msg_id=msg_id,
            offset_msg_id=f"{offset:032X}",
            tags=message.tags,
            keys=properties.get("KEYS"),
            properties=properties,
            queue=MessageQueueRef(message.topic, _BROKER, 0),
            queue_offset=offset,
            commit_log_offset=offset,
            born_timestamp=now,
            store_timestamp=now,
            born_host="127.0.0.1:0",
            store_host="127.0.0.1:0",
            reconsume_times=0,
        )

    # -- inspection ---------------------------------------------------------------------------

    def calls(self, handler: Any) -> Calls:
        """The recorded calls of ``handler`` (the decorated function)."""
        fn = original(handler)
        names = [sub for sub in self.app.subscribers() if sub.fn is fn]
        if not names:
            raise LookupError(f"{handler!r} is not a subscriber of this application")
        return Calls(names[0].name, [d for d in self.deliveries if d.subscriber.fn is fn])

    def published(self, topic: str | None = None) -> list[Message]:
        """Messages the application published (all, or those to ``topic``), in order."""
        return [m for m in self._published if topic is None or m.topic == topic]

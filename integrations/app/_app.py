"""``RocketMQApp``: decorator-registered handlers run by one push consumer per group."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar, overload

import anyio

from integrations.app._handlers import (
    Delivery,
    GroupSpec,
    Subscriber,
    deliver,
    fate,
    is_async_callable,
    max_reconsume,
    original,
)
from integrations.app._payload import as_message, encode_payload
from integrations.app._retry import DEFAULT_DELAY_LEVELS, level_delays, local_wait
from rocketmq_py import (
    AsyncProducer,
    AsyncPushConsumer,
    ConfigError,
    Message,
    MessageView,
    SendResult,
    TraceHook,
)

if TYPE_CHECKING:
    from integrations.app.testing import TestBroker

__all__ = ["PublishTarget", "PublisherDecorator", "RocketMQApp"]

log = logging.getLogger("rocketmq_py.app")

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
Hook = Callable[[], Awaitable[None] | None]

#: The push consumer's defaults, which the application keeps unless told otherwise.
DEFAULT_CONCURRENCY = 20
#: The push consumer's default orderly ``suspend_time`` (seconds a queue pauses after a failure).
ORDERLY_SUSPEND_TIME = 1.0


def _accepts(cls: type, name: str) -> bool:
    return name in inspect.signature(cls).parameters


class PublisherDecorator(Protocol):
    """What ``@app.publisher(...)`` returns: it makes the function async (awaiting it calls it
    and publishes the result), so a sync function's type changes accordingly."""

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Callable[P, Coroutine[Any, Any, R]]: ...


@dataclass(frozen=True)
class PublishTarget:
    """Where a ``@app.publisher`` function's return value goes."""

    topic: str
    tags: str | None = None


class RocketMQApp:
    """An application of decorated handlers.

    ::

        app = RocketMQApp("127.0.0.1:9876", producer_group="orders-app")

        @app.subscriber("Orders", group="billing", tags="Created || Paid")
        @app.publisher("Invoices")
        async def bill(order: dict) -> dict:
            return {"order": order["id"], "amount": order["total"]}

        async with app:  # or: await app.run(), or: rocketmq-py run mymodule:app
            ...

    Args:
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``); may be set
            later (the CLI's ``--namesrv`` does) through the attribute of that name.
        producer_group: group of the producer used by :meth:`publish` and publishers.
        namespace: passed to every producer and consumer (Java's namespaces).
        hooks: trace hooks for every producer and consumer.
        concurrency: handler calls per group at once unless a subscriber says otherwise.
        delay_levels: the brokers' ``messageDelayLevel``, used only to make
            ``Retry(delay=...)`` wait no longer than needed (see :mod:`integrations.app._retry`).
        shutdown_timeout: seconds in-flight handlers get to finish at shutdown.
    """

    def __init__(
        self,
        namesrv_addr: str | None = None,
        *,
        producer_group: str = "rocketmq-py-app",
        namespace: str | None = None,
        hooks: Sequence[TraceHook] = (),
        concurrency: int = DEFAULT_CONCURRENCY,
        delay_levels: str = DEFAULT_DELAY_LEVELS,
        shutdown_timeout: float = 30.0,
    ) -> None:
        if not producer_group:
            raise ConfigError("producer_group", producer_group, "a producer group is required")
        self.namesrv_addr = namesrv_addr
        self.producer_group = producer_group
        self.namespace = namespace
        self.hooks = tuple(hooks)
        self.concurrency = concurrency
        self.shutdown_timeout = shutdown_timeout
        self._delays = level_delays(delay_levels)
        self.groups: dict[str, GroupSpec] = {}
        self._publishers: dict[Callable[..., Any], list[PublishTarget]] = {}
        self._on_startup: list[Hook] = []
        self._on_shutdown: list[Hook] = []
        self._producer: AsyncProducer | None = None
        self._consumers: list[AsyncPushConsumer] = []
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._started = False
        self._stopping: anyio.Event | None = None
        self._stop_requested: anyio.Event | None = None
        self._test_broker: TestBroker | None = None

    # -- registration -------------------------------------------------------------------------

    def subscriber(
        self,
        topic: str,
        *,
        group: str,
        tags: str = "*",
        orderly: bool = False,
        broadcasting: bool = False,
        max_reconsume_times: int | None = None,
        concurrency: int | None = None,
        consume_from: Literal["last", "first", "timestamp"] | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function for ``topic`` messages with ``tags`` in ``group``.

        The function (sync or async) gets the payload decoded by its first parameter's
        annotation (see :mod:`integrations.app._payload`) and, if it takes a second one, the
        :class:`~rocketmq_py.MessageView`. Returning acknowledges the message; raising, or
        raising/returning :class:`~integrations.app.Retry`, has it delivered again.

        Subscribers of one group share one consumer, so ``orderly``, ``broadcasting``,
        ``max_reconsume_times``, ``concurrency`` and ``consume_from`` must agree within a group
        (each is taken from whichever subscriber sets it), and two subscribers of a group may
        share a topic only with disjoint tags. The function is returned unchanged.

        Raises:
            ConfigError: an empty topic or group, contradicting group settings, overlapping
                tags, or a payload annotation with no decoder.
        """
        if not topic:
            raise ConfigError("topic", topic, "a topic is required")
        if not group:
            raise ConfigError("group", group, "a consumer group is required")
        if max_reconsume_times is not None and max_reconsume_times < 0:
            raise ConfigError("max_reconsume_times", max_reconsume_times, "must not be negative")
        if concurrency is not None and concurrency < 1:
            raise ConfigError("concurrency", concurrency, "must be at least 1")

        def register(fn: F) -> F:
            if self._started:
                raise RuntimeError("subscribe before the application starts")
            sub = Subscriber.create(original(fn), topic, group, tags)
            current = self.groups.get(group) or GroupSpec(group)
            # Checked on a copy: a rejected registration leaves the group as it was.
            spec = dataclasses.replace(current, subscribers=list(current.subscribers))
            spec.merge(
                sub.name,
                # False is the default, not a choice: only True can contradict.
                orderly=orderly or None,
                broadcasting=broadcasting or None,
                max_reconsume_times=max_reconsume_times,
                concurrency=concurrency,
                consume_from=consume_from,
            )
            spec.add(sub)
            self.groups[group] = spec
            return fn

        return register

    def publisher(self, topic: str, *, tags: str | None = None) -> PublisherDecorator:
        """Publish the decorated function's return value to ``topic`` (with ``tags``).

        Stacked with :meth:`subscriber` (in either order) the handler's result is published
        after it returns, and a failed publish fails the message (so it is retried, never
        lost). A function that is not a subscriber is wrapped: awaiting the wrapper calls it
        and publishes the result. ``None`` is never published; a returned
        :class:`~rocketmq_py.Message` is sent with its own tags, keys and properties.
        """
        if not topic:
            raise ConfigError("topic", topic, "a topic is required")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            base = original(fn)
            self._publishers.setdefault(base, []).append(PublishTarget(topic, tags))
            if fn is not base:  # already wrapped by an earlier @publisher
                return fn

            @functools.wraps(base)
            async def call_and_publish(*args: Any, **kwargs: Any) -> Any:
                if is_async_callable(base):
                    result = await base(*args, **kwargs)
                else:
                    result = await anyio.to_thread.run_sync(
                        functools.partial(base, *args, **kwargs)
                    )
                await self._publish_result(base, result)
                return result

            call_and_publish.__rocketmq_original__ = base  # type: ignore[attr-defined]
            return call_and_publish

        return register

    def on_startup(self, fn: F) -> F:
        """Run ``fn`` (sync or async, no arguments) at start, before any consumer; in order."""
        self._on_startup.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Run ``fn`` (sync or async, no arguments) at shutdown, after every consumer stopped."""
        self._on_shutdown.append(fn)
        return fn

    def subscribers(self) -> list[Subscriber]:
        """Every registration, in the order they were made (group by group)."""
        return [sub for spec in self.groups.values() for sub in spec.subscribers]

    def publish_targets(self, fn: Callable[..., Any]) -> list[PublishTarget]:
        """Where ``fn``'s return value is published (empty for a plain subscriber)."""
        return list(self._publishers.get(original(fn), ()))

    # -- publishing ---------------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        payload: object,
        *,
        keys: str | Sequence[str] | None = None,
        tags: str | None = None,
        delay: float | timedelta | None = None,
        delay_level: int = 0,
        deliver_at: datetime | int | None = None,
        properties: dict[str, str] | None = None,
        sharding_key: str | None = None,
    ) -> SendResult:
        """Send ``payload`` (bytes, str, JSON-able, a dataclass or a pydantic model) to ``topic``.

        ``delay`` (seconds or a ``timedelta``) or ``deliver_at`` (a ``datetime`` or epoch
        milliseconds) makes it a timer message; ``delay_level`` (1..18) a scheduled message
        of the broker's ``messageDelayLevel`` table; at most one of the three. ``sharding_key``
        picks the queue by hash, so messages with one key stay in order (for orderly
        subscribers). Works inside ``async with app`` (or a TestBroker).

        Raises:
            ConfigError: a bad delay (naming the field and the value), or a payload that
                cannot be encoded.
        """
        message = Message(
            topic,
            encode_payload(payload),
            tags=tags,
            keys=keys,
            properties=dict(properties or {}),
            delay_level=delay_level,
            deliver_at=deliver_at,
            delay=delay,
        )
        return await self.send(message, sharding_key=sharding_key)

    async def send(self, message: Message, *, sharding_key: str | None = None) -> SendResult:
        """Send a prepared :class:`~rocketmq_py.Message` through the application's producer."""
        if self._test_broker is not None:
            return await self._test_broker.route(message)
        if self._producer is None:
            raise RuntimeError("the application is not running: use 'async with app:'")
        return await self._producer.send(message, sharding_key=sharding_key)

    async def _publish_result(self, fn: Callable[..., Any], result: object) -> None:
        if result is None:
            return
        for target in self._publishers.get(fn, ()):
            await self.send(as_message(target.topic, result, tags=target.tags))

    # -- delivery -----------------------------------------------------------------------------

    def limiter(self, group: str) -> anyio.CapacityLimiter:
        """The worker-thread limiter of ``group``'s sync handlers."""
        limiter = self._limiters.get(group)
        if limiter is None:
            limiter = self._limiters[group] = anyio.CapacityLimiter(self.group_concurrency(group))
        return limiter

    def group_concurrency(self, group: str) -> int:
        """Handler calls at once in ``group``."""
        return self.groups[group].concurrency or self.concurrency

    async def deliver(self, sub: Subscriber, message: MessageView) -> Delivery:
        """Decode and hand ``message`` to ``sub``, publish its result; never raises."""
        spec = self.groups[sub.group]
        return await deliver(
            sub,
            message,
            limiter=self.limiter(sub.group),
            after=self._publish_result,
            on_failure=fate(spec, message),
        )

    def _consumer_handler(self, spec: GroupSpec) -> Callable[[MessageView], Awaitable[bool]]:
        async def on_message(message: MessageView) -> bool:
            sub = spec.route(message)
            if sub is None:  # a tag hash collision let it through the broker's filter
                log.debug("no subscriber of %s takes %s; acknowledged", spec.group, message)
                return True
            delivery = await self.deliver(sub, message)
            if delivery.ok:
                return True
            if delivery.retry is not None and delivery.retry.delay:
                wait = local_wait(
                    delivery.retry.delay,
                    message.reconsume_times,
                    delays=self._delays,
                    orderly=bool(spec.orderly),
                    suspend_time=ORDERLY_SUSPEND_TIME,
                )
                if self._stopping is not None:
                    with anyio.move_on_after(wait):
                        await self._stopping.wait()
            return False

        return on_message

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> RocketMQApp:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def run_hooks(self, hooks: Sequence[Hook]) -> None:
        """Run lifecycle hooks in order (sync ones in a worker thread)."""
        for hook in hooks:
            if is_async_callable(hook):
                await hook()  # type: ignore[misc]
            else:
                result = await anyio.to_thread.run_sync(hook)
                if inspect.isawaitable(result):
                    await result

    async def start(self) -> None:
        """Run the startup hooks, start the producer, then one consumer per group.

        Raises:
            RuntimeError: already started.
            ConfigError: a consumer's settings are invalid.
        """
        if self._started:
            raise RuntimeError("the application is already running")
        self._started = True
        self._stopping = anyio.Event()
        try:
            await self.run_hooks(self._on_startup)
            self._producer = AsyncProducer(
                self.producer_group,
                self.namesrv_addr,
                hooks=self.hooks,
                namespace=self.namespace,
            )
            await self._producer.__aenter__()
            for spec in self.groups.values():
                consumer = self._consumer(spec)
                await consumer.start()
                self._consumers.append(consumer)
        except BaseException:
            await self.shutdown()
            raise

    def _consumer(self, spec: GroupSpec) -> AsyncPushConsumer:
        options: dict[str, Any] = {
            "message_model": spec.model,
            "max_concurrency": self.group_concurrency(spec.group),
            "max_reconsume_times": max_reconsume(spec),
            "shutdown_timeout": self.shutdown_timeout,
            "hooks": self.hooks,
            "namespace": self.namespace,
        }
        if spec.consume_from is not None:
            options["consume_from_where"] = spec.consume_from
        if spec.orderly:
            if not _accepts(AsyncPushConsumer, "orderly"):
                raise ConfigError(
                    "orderly", True, "this rocketmq-py's AsyncPushConsumer has no orderly mode"
                )
            options["orderly"] = True
        consumer = AsyncPushConsumer(spec.group, self.namesrv_addr, **options)
        for topic, expression in spec.expressions().items():
            consumer.subscribe(topic, expression)
        consumer.register(self._consumer_handler(spec))
        return consumer

    async def shutdown(self) -> None:
        """Stop the consumers (in-flight handlers finish, offsets are committed), the producer,
        then run the shutdown hooks. Safe to call more than once."""
        if not self._started:
            return
        if self._stopping is not None:
            self._stopping.set()  # cut Retry(delay) waits short: hand those messages back now
        # No shielding scope around these: each client exits task groups it entered in
        # start(), which must not be nested inside a scope opened here.
        try:
            while self._consumers:
                consumer = self._consumers.pop()
                try:
                    await consumer.shutdown()
                except Exception:
                    log.exception("shutdown of consumer %s failed", consumer.group)
            if self._producer is not None:
                producer, self._producer = self._producer, None
                try:
                    await producer.__aexit__(None, None, None)
                except Exception:
                    log.exception("shutdown of the producer failed")
            await self.run_hooks(self._on_shutdown)
        finally:
            self._started = False

    async def run(self) -> None:
        """Run until :meth:`stop` is called (or the task is cancelled), then shut down."""
        self._stop_requested = anyio.Event()
        async with self:
            await self._stop_requested.wait()

    def stop(self) -> None:
        """Make :meth:`run` return after a graceful shutdown (call it from the event loop)."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    def describe(self) -> list[str]:
        """One line per subscriber: topic, tags, group, model, handler (what the CLI prints)."""
        lines = []
        for spec in self.groups.values():
            model = spec.model + (" orderly" if spec.orderly else "")
            for sub in spec.subscribers:
                lines.append(
                    f"topic={sub.topic} tags={sub.expression} group={spec.group} "
                    f"model={model} handler={sub.name}"
                )
        return lines


def env_namesrv(app: RocketMQApp) -> str | None:
    """The name servers ``app`` will use: its own, else ``$NAMESRV_ADDR``."""
    return app.namesrv_addr or os.environ.get("NAMESRV_ADDR") or None

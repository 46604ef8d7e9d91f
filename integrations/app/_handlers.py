"""Registered handlers and one delivery: decode, call, classify the outcome.

:func:`deliver` is the single path from a received :class:`~rocketmq_py.MessageView` to a
handler call, used by the running application and by
:class:`~integrations.app.testing.TestBroker` alike, so decoding, logging and retry decisions
are the same under test as in production.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from integrations.app._payload import Decoder, PayloadDecodeError, decoder_for, wants_message
from integrations.app._retry import Retry
from rocketmq_py import ConfigError, MessageView

__all__ = [
    "Delivery",
    "GroupSpec",
    "Subscriber",
    "deliver",
    "fate",
    "handler_name",
    "is_async_callable",
    "max_reconsume",
    "original",
    "parse_tags",
]

log = logging.getLogger("rocketmq_py.app")

_UNSET: Any = object()
#: The push consumer's default max_reconsume_times.
DEFAULT_MAX_RECONSUME_TIMES = 16


def handler_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler, as logs and the CLI show it."""
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def original(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The user's function behind a ``@publisher`` wrapper (``fn`` itself otherwise)."""
    found: Callable[..., Any] = getattr(fn, "__rocketmq_original__", fn)
    return found


def max_reconsume(spec: GroupSpec) -> int:
    """``spec``'s max_reconsume_times, the push consumer's default (16) when unset."""
    if spec.max_reconsume_times is None:
        return DEFAULT_MAX_RECONSUME_TIMES
    return spec.max_reconsume_times


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` returns a coroutine (``async def``, also behind partials)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    )


def parse_tags(tags: str) -> frozenset[str] | None:
    """``"A || B"`` as a set of tags; ``None`` for ``"*"`` (every message).

    Raises:
        ConfigError: the expression names no tag.
    """
    text = tags.strip()
    if text in ("", "*"):
        return None
    names = frozenset(t.strip() for t in text.split("||") if t.strip())
    if not names:
        raise ConfigError("tags", tags, "names no tag (use '*' for every message)")
    return names


@dataclass(frozen=True, eq=False)
class Subscriber:
    """One ``@app.subscriber`` registration.

    Attributes:
        fn: the decorated function (sync or async).
        name: ``module.qualname`` of ``fn``.
        topic: the subscribed topic (without namespace).
        group: the consumer group.
        tags: the tags it takes, ``None`` for every tag.
    """

    fn: Callable[..., Any]
    name: str
    topic: str
    group: str
    tags: frozenset[str] | None
    decoder: Decoder = field(repr=False)
    with_message: bool = field(repr=False)
    is_async: bool = field(repr=False)

    @classmethod
    def create(cls, fn: Callable[..., Any], topic: str, group: str, tags: str) -> Subscriber:
        """Check ``fn`` and build its registration (decoder chosen now)."""
        if not callable(fn):
            raise ConfigError("handler", fn, "must be callable")
        name = handler_name(fn)
        return cls(
            fn=fn,
            name=name,
            topic=topic,
            group=group,
            tags=parse_tags(tags),
            decoder=decoder_for(fn, name),
            with_message=wants_message(fn),
            is_async=is_async_callable(fn),
        )

    @property
    def expression(self) -> str:
        """The tag expression as RocketMQ reads it."""
        return "*" if self.tags is None else " || ".join(sorted(self.tags))

    def matches(self, tags: str | None) -> bool:
        """Whether a message with ``tags`` is for this subscriber (the broker's rule)."""
        return self.tags is None or (tags is not None and tags in self.tags)


@dataclass
class GroupSpec:
    """The consumer settings of one group; every subscriber of the group shares them."""

    group: str
    orderly: bool | None = None
    broadcasting: bool | None = None
    max_reconsume_times: int | None = None
    concurrency: int | None = None
    consume_from: str | None = None
    subscribers: list[Subscriber] = field(default_factory=list)

    @property
    def model(self) -> str:
        """``"broadcasting"`` or ``"clustering"``."""
        return "broadcasting" if self.broadcasting else "clustering"

    def merge(self, by: str, **settings: Any) -> None:
        """Adopt the settings ``by`` gave; one that contradicts an earlier one is an error."""
        for key, value in settings.items():
            if value is None:
                continue
            current = getattr(self, key)
            if current is not None and current != value:
                raise ConfigError(
                    key,
                    value,
                    f"{by} sets it for group {self.group!r}, which another subscriber set to "
                    f"{current!r}; a group is one consumer with one setting",
                )
            setattr(self, key, value)

    def add(self, sub: Subscriber) -> None:
        """Add ``sub``; two subscribers of a group may share a topic only with disjoint tags."""
        for other in self.subscribers:
            if other.topic != sub.topic:
                continue
            overlap = other.tags is None or sub.tags is None or other.tags & sub.tags
            if overlap:
                raise ConfigError(
                    "tags",
                    sub.expression,
                    f"{sub.name} and {other.name} both take {sub.topic!r} messages with these "
                    f"tags in group {self.group!r}; give them disjoint tags or different groups",
                )
        self.subscribers.append(sub)

    def expressions(self) -> dict[str, str]:
        """Each topic's combined tag expression for the group's one consumer."""
        by_topic: dict[str, list[Subscriber]] = {}
        for sub in self.subscribers:
            by_topic.setdefault(sub.topic, []).append(sub)
        out = {}
        for topic, subs in by_topic.items():
            tags = sorted({t for s in subs for t in (s.tags or ())})
            out[topic] = "*" if any(s.tags is None for s in subs) else " || ".join(tags)
        return out

    def route(self, message: MessageView) -> Subscriber | None:
        """The subscriber for ``message`` (topic and tag), if any."""
        for sub in self.subscribers:
            if sub.topic == message.topic and sub.matches(message.tags):
                return sub
        return None


@dataclass
class Delivery:
    """One handler call and how it ended.

    Attributes:
        subscriber: whose handler ran.
        message: what it was given.
        payload: the decoded payload (unset when decoding failed: see ``error``).
        result: what the handler returned.
        error: the exception it raised, or the :class:`PayloadDecodeError`.
        retry: the :class:`Retry` it raised or returned.
    """

    subscriber: Subscriber
    message: MessageView
    payload: Any = _UNSET
    result: Any = None
    error: BaseException | None = None
    retry: Retry | None = None

    @property
    def ok(self) -> bool:
        """Whether the message is done (acknowledged)."""
        return self.error is None and self.retry is None

    @property
    def decoded(self) -> bool:
        """Whether the payload was decoded (the handler was called)."""
        return self.payload is not _UNSET


def fate(spec: GroupSpec, message: MessageView) -> str:
    """What happens to ``message`` if its delivery fails now (for the log line).

    The push consumer's rules: broadcasting drops a failed message at once, except orderly
    broadcasting, which retries it in place like orderly clustering and drops it (there is no
    DLQ without a group offset) once the retries are exhausted.
    """
    if spec.broadcasting and not spec.orderly:
        return "broadcasting does not retry: it is dropped"
    limit = max_reconsume(spec)
    if message.reconsume_times >= limit:
        if spec.broadcasting:
            return f"retries exhausted ({limit}): it is dropped (broadcasting has no DLQ)"
        return f"retries exhausted ({limit}): it goes to %DLQ%{spec.group}"
    return f"it will be redelivered (redelivery {message.reconsume_times + 1} of {limit})"


async def deliver(
    sub: Subscriber,
    message: MessageView,
    *,
    limiter: anyio.CapacityLimiter | None,
    after: Callable[[Callable[..., Any], Any], Awaitable[None]] | None = None,
    on_failure: str = "it will be redelivered",
) -> Delivery:
    """Decode ``message`` for ``sub``, call it, and classify the outcome (never raises).

    ``after`` runs on success with the return value (publishing it); if it fails, the message
    fails too, so a result is never lost. ``on_failure`` ends the log line of a failure (see
    :func:`fate`).
    """
    delivery = Delivery(sub, message)
    where = f"message {message.msg_id} of {message.topic!r} for handler {sub.name}"
    try:
        delivery.payload = sub.decoder(message)
    except Exception as exc:
        reason = " ".join(str(exc).split())  # pydantic's errors span lines: keep one
        delivery.error = PayloadDecodeError(
            f"cannot decode {where}: {type(exc).__name__}: {reason}"
        )
        delivery.error.__cause__ = exc
        log.error("%s; %s", delivery.error, on_failure)
        return delivery
    args = (delivery.payload, message) if sub.with_message else (delivery.payload,)
    try:
        if sub.is_async:
            result = await sub.fn(*args)
        else:
            result = await anyio.to_thread.run_sync(
                functools.partial(sub.fn, *args), limiter=limiter
            )
        if isinstance(result, Retry):
            raise result
        delivery.result = result
        if after is not None:
            await after(sub.fn, result)
    except Retry as retry:
        delivery.retry = retry
        log.info("retry of %s requested (%s); %s", where, retry, on_failure)
    except Exception as exc:
        delivery.error = exc
        log.exception("%s failed; %s", where, on_failure)
    return delivery

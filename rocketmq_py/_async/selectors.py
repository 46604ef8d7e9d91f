"""Ordered sends: queue selectors and the queues a producer publishes to (``protocol.md`` 8.5).

Messages that must stay in order go to one queue, chosen by a *selector*: any callable
``selector(queues, message, arg) -> MessageQueueRef`` (Java's ``MessageQueueSelector``), given the
topic's publish queues in route order and the ``arg`` passed to
:meth:`~rocketmq_py.AsyncProducer.send`. Two of Java's selectors are provided:

* :func:`select_by_hash` (``SelectMessageQueueByHash``): ``abs(arg.hashCode() % n)`` with Java's
  ``hashCode`` (:func:`java_hash_code`), so a Java and a Python producer put the same key in the
  same queue. ``send(message, sharding_key=key)`` is ``send(message, selector=select_by_hash,
  arg=key)``.
* :func:`select_by_random` (``SelectMessageQueueByRandom``).

Java's third one, ``SelectMessageQueueByMachineRoom``, always answers no queue, so it has no
counterpart here.

:func:`publish_queues` is Java's ``MQClientInstance.topicRouteData2TopicPublishInfo``: when the
name server puts ``orderTopicConf`` (``"brokerName:queueNums;..."``, from its
``ORDER_TOPIC_CONFIG`` KV namespace, given only when the name server runs with
``orderMessageEnable=true``) in the route, the topic's queues are exactly those, in that order;
otherwise they are the writable queues of every broker that has a master, brokers sorted by
name. Both Java and this client hash over that same list.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from rocketmq_py.exceptions import ConfigError, RemoteProtocolError
from rocketmq_py.message import Message, MessageQueueRef
from rocketmq_py.protocol.bodies import TopicRouteData
from rocketmq_py.protocol.message import PermName, java_string_hash

__all__ = [
    "MessageQueueSelector",
    "java_hash_code",
    "order_topic_queues",
    "publish_queues",
    "select_by_hash",
    "select_by_random",
    "select_queue",
    "selection_of",
]

#: ``selector(queues, message, arg) -> queue``: picks the queue of an ordered send.
MessageQueueSelector = Callable[[list[MessageQueueRef], Message, Any], MessageQueueRef]

_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


def java_hash_code(value: object) -> int:
    """``value.hashCode()`` as Java computes it for the boxed equivalent of ``value``.

    ``str`` is a ``String``; ``bool`` a ``Boolean`` (1231 / 1237); an ``int`` that fits 32 bits
    an ``Integer`` (itself), a larger one that fits 64 bits a ``Long``
    (``(int)(v ^ (v >>> 32))``). A Java ``long`` key small enough for an ``int`` hashes the
    same either way when it is not negative.

    Raises:
        ConfigError: ``value`` has no Java equivalent here (another type, or an int over 64
            bits).
    """
    if isinstance(value, str):
        return java_string_hash(value)
    if isinstance(value, bool):
        return 1231 if value else 1237
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return value
        if _LONG_MIN <= value <= _LONG_MAX:
            bits = value & _MASK64
            folded = (bits ^ (bits >> 32)) & _MASK32
            return folded - (1 << 32) if folded > _INT_MAX else folded
        raise ConfigError("arg", value, "an int key must fit Java's long (64 bits)")
    raise ConfigError(
        "arg", value, "hash selection takes a str, int or bool key (hashed like Java's hashCode)"
    )


def select_by_hash(queues: list[MessageQueueRef], message: Message, arg: Any) -> MessageQueueRef:
    """The queue at ``abs(java_hash_code(arg) % len(queues))`` (Java's ``%`` keeps the sign of
    the hash, hence the ``abs`` after it; this is the 4.8+ formula, which also handles
    ``Integer.MIN_VALUE``, where older clients failed with an index error).

    Raises:
        ConfigError: no queue to choose from, or an ``arg`` :func:`java_hash_code` refuses.
    """
    if not queues:
        raise ConfigError("queues", queues, "there is no queue to select from")
    # abs(h rem n) == abs(h) mod n: Python's ints cannot overflow, so no MIN_VALUE case.
    return queues[abs(java_hash_code(arg)) % len(queues)]


def select_by_random(queues: list[MessageQueueRef], message: Message, arg: Any) -> MessageQueueRef:
    """A queue chosen uniformly at random (``arg`` is ignored).

    Raises:
        ConfigError: no queue to choose from.
    """
    if not queues:
        raise ConfigError("queues", queues, "there is no queue to select from")
    return random.choice(queues)  # spreading load, not security


def order_topic_queues(topic: str, conf: str) -> list[MessageQueueRef]:
    """The queues ``"brokerA:4;brokerB:2"`` names: ids ``0..n-1`` of each broker, in order.

    Empty segments are skipped (Java's ``split`` drops trailing ones).

    Raises:
        RemoteProtocolError: a segment is not ``brokerName:count`` with a count >= 0.
    """
    queues: list[MessageQueueRef] = []
    for part in conf.split(";"):
        if not part.strip():
            continue
        items = part.split(":")
        count = items[1].strip() if len(items) == 2 else ""
        if not items[0] or not (count.isascii() and count.isdigit()):
            raise RemoteProtocolError(
                f"orderTopicConf of topic {topic} is {conf!r}: {part!r} is not brokerName:queueNums"
            )
        queues.extend(MessageQueueRef(topic, items[0], i) for i in range(int(count)))
    return queues


def publish_queues(
    topic: str, route: TopicRouteData, limit: int | None = None
) -> list[MessageQueueRef]:
    """The queues a producer sends ``topic``'s messages to (``topicRouteData2TopicPublishInfo``).

    Args:
        topic: the topic as it goes on the wire.
        route: its route (or the template topic's, for a topic not created yet).
        limit: at most this many write queues per broker (template routes: Java caps them at
            ``defaultTopicQueueNums``); not applied to an ``orderTopicConf``.
    """
    if route.order_topic_conf:
        return order_topic_queues(topic, route.order_topic_conf)
    masters = {b.broker_name for b in route.broker_datas if b.broker_addrs.get(0)}
    queues: list[MessageQueueRef] = []
    for data in sorted(route.queue_datas, key=lambda q: q.broker_name):
        if not PermName.is_writeable(data.perm) or data.broker_name not in masters:
            continue
        count = data.write_queue_nums if limit is None else min(limit, data.write_queue_nums)
        queues.extend(MessageQueueRef(topic, data.broker_name, i) for i in range(count))
    return queues


def selection_of(
    queue: MessageQueueRef | None,
    selector: MessageQueueSelector | None,
    arg: Any,
    sharding_key: str | None,
) -> tuple[MessageQueueSelector, Any] | None:
    """The ``(selector, arg)`` a send's keyword arguments ask for, or ``None`` for none.

    Raises:
        ConfigError: the arguments contradict each other (two ways of choosing the queue,
            ``arg`` without ``selector``) or ``sharding_key`` is not a string.
    """
    if sharding_key is not None:
        if not isinstance(sharding_key, str):
            raise ConfigError("sharding_key", sharding_key, "must be a str")
        if selector is not None or arg is not None:
            raise ConfigError(
                "sharding_key", sharding_key, "selects the queue itself: drop selector and arg"
            )
        selector, arg = select_by_hash, sharding_key
    if selector is None:
        if arg is not None:
            raise ConfigError("arg", arg, "is only passed to a selector, and none was given")
        return None
    if queue is not None:
        raise ConfigError("queue", queue, "give either a queue or a selector/sharding_key")
    if not callable(selector):
        raise ConfigError("selector", selector, "must be callable(queues, message, arg)")
    return selector, arg


def select_queue(
    selector: MessageQueueSelector, queues: list[MessageQueueRef], message: Message, arg: Any
) -> MessageQueueRef:
    """Run ``selector`` and check its answer (Java's ``sendSelectImpl`` around ``select``).

    The selector gets a copy of the list, so it cannot change the producer's. Like Java, only
    the broker name and queue id of its answer count: the message keeps its own topic.
    Exceptions from the selector propagate unchanged.

    Raises:
        ConfigError: the selector returned something other than a :class:`MessageQueueRef`.
    """
    chosen = selector(list(queues), message, arg)
    if not isinstance(chosen, MessageQueueRef):
        raise ConfigError("selector", selector, f"returned {chosen!r}, not a MessageQueueRef")
    if chosen.topic != message.topic:
        chosen = MessageQueueRef(message.topic, chosen.broker_name, chosen.queue_id)
    return chosen

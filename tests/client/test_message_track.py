"""``AsyncAdmin.message_track`` (Java's ``messageTrackDetail``, the track table of ``mqadmin
queryMsgById``) against the in-process namesrv + broker over real TCP.

Each test stores messages in a one-queue topic, brings consumer groups into a known state and
then asks what each group did with a message. The states are reached by waiting on the
broker's own records (committed offsets, online groups), never on time, so the expected track
follows from what the broker holds when the track is asked for:

* a push group online whose committed offset is past the message: CONSUMED, or
  CONSUMED_BUT_FILTERED when its subscription names tags and not the message's;
* a push group online whose committed offset is not past it: NOT_CONSUME_YET;
* a lite pull group online: PULL, whatever its offsets;
* a broadcasting push group online: CONSUME_BROADCASTING (its offsets are in each consumer's
  own file; Java 5.x);
* a group known only by its committed offsets (nobody online): NOT_ONLINE, with the broker's
  answer as the description, as Java reports it.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from rocketmq_py._async.admin import AsyncAdmin, MessageTrack, TrackType
from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.push import AsyncPushConsumer
from rocketmq_py.message import Message, MessageView
from tests.client.helpers import create_topic, wait_for
from tests.test_cli import MQADMIN, run_cli

pytestmark = pytest.mark.anyio

#: Deadline of every wait here: generous, the box is shared with other test runs.
WAIT = 20.0


async def store(addr: str, broker: Any, topic: str, *tagged: tuple[str, str]) -> list[MessageView]:
    """Create ``topic`` with one queue, send ``(body, tag)`` messages to it in order and read
    each back by its offset message id, as ``queryMsgById`` does."""
    (queue,) = await create_topic(addr, broker, topic, 1)
    async with AsyncProducer("PG_TRACK", addr) as producer:
        results = [
            await producer.send(Message(topic, body, tags=tag), queue=queue) for body, tag in tagged
        ]
    async with AsyncAdmin(addr) as admin:
        views = [await admin.view_message(r.offset_msg_id) for r in results]
    assert [v.queue_offset for v in views] == list(range(len(tagged)))
    return views


def committed(broker: Any, group: str, topic: str) -> int:
    """The group's committed offset of queue 0 of ``topic`` on the broker (-1: none)."""
    return int(broker.offsets.query_offset(group, topic, 0))


def online(broker: Any, group: str) -> bool:
    """Whether the broker has a connected client of ``group``."""
    return broker.consumers.group_info(group) is not None


def push_consumer(
    addr: str, group: str, topic: str, expression: str = "*", **options: Any
) -> tuple[AsyncPushConsumer, list[str]]:
    """A push consumer from the first offset, committing often; it records the bodies it
    handled (a test may register its own handler instead)."""
    options.setdefault("commit_interval", 0.1)
    consumer = AsyncPushConsumer(group, addr, consume_from_where="first", **options)
    consumer.subscribe(topic, expression)
    handled: list[str] = []

    @consumer.handler
    async def handle(message: MessageView) -> None:
        handled.append(message.body.decode())

    return consumer, handled


def not_online(group: str) -> MessageTrack:
    """Java's track of a group the broker answers CONSUMER_NOT_ONLINE (206) for."""
    return MessageTrack(
        group, TrackType.NOT_ONLINE, f"CODE:206 DESC:the consumer group[{group}] not online"
    )


# -- push consumers -----------------------------------------------------------------------------


async def test_consumed_by_online_push_groups(addr: str, broker: Any) -> None:
    topic = "TrackConsumed"
    (message,) = await store(addr, broker, topic, ("m0", "TagA"))
    everything, got_all = push_consumer(addr, "CG_TRACK_ALL", topic)
    by_tag, got_tagged = push_consumer(addr, "CG_TRACK_TAGS", topic, "TagB || TagA")
    async with everything, by_tag, AsyncAdmin(addr) as admin:
        await wait_for(lambda: got_all == ["m0"] and got_tagged == ["m0"], WAIT, "m0 handled")
        await wait_for(
            lambda: (
                committed(broker, "CG_TRACK_ALL", topic) == 1
                and committed(broker, "CG_TRACK_TAGS", topic) == 1
            ),
            WAIT,
            "both groups to commit offset 1",
        )
        # "*" and a tag list naming the message's tag both count as consumed.
        assert await admin.message_track(message) == [
            MessageTrack("CG_TRACK_ALL", TrackType.CONSUMED),
            MessageTrack("CG_TRACK_TAGS", TrackType.CONSUMED),
        ]
    # Shutdown committed and left the group: only the offsets remain, and Java reports a group
    # nobody is connected for as NOT_ONLINE before it looks at offsets.
    await wait_for(
        lambda: not online(broker, "CG_TRACK_ALL") and not online(broker, "CG_TRACK_TAGS"),
        WAIT,
        "both groups to leave",
    )
    assert committed(broker, "CG_TRACK_ALL", topic) == 1
    async with AsyncAdmin(addr) as admin:
        assert await admin.message_track(message) == [
            not_online("CG_TRACK_ALL"),
            not_online("CG_TRACK_TAGS"),
        ]


async def test_not_consumed_yet_while_the_handler_still_runs(addr: str, broker: Any) -> None:
    topic = "TrackNotYet"
    first, second = await store(addr, broker, topic, ("m0", "TagA"), ("m1", "TagA"))
    entered = anyio.Event()
    release = anyio.Event()
    consumer, handled = push_consumer(addr, "CG_TRACK_BUSY", topic)

    @consumer.handler
    async def handle(message: MessageView) -> None:
        if message.body == b"m1":
            entered.set()
            await release.wait()
        handled.append(message.body.decode())

    async with consumer, AsyncAdmin(addr) as admin:
        try:
            # m0 is done and m1 is in the handler: the queue's offset is that of m1, its lowest
            # unfinished message, and cannot move past it until the handler returns.
            await wait_for(lambda: entered.is_set() and handled == ["m0"], WAIT, "m1 in handler")
            await wait_for(
                lambda: committed(broker, "CG_TRACK_BUSY", topic) == 1, WAIT, "offset 1 committed"
            )
            assert await admin.message_track(second) == [
                MessageTrack("CG_TRACK_BUSY", TrackType.NOT_CONSUME_YET)
            ]
            assert await admin.message_track(first) == [
                MessageTrack("CG_TRACK_BUSY", TrackType.CONSUMED)
            ]
            release.set()
            await wait_for(
                lambda: committed(broker, "CG_TRACK_BUSY", topic) == 2, WAIT, "offset 2 committed"
            )
            assert await admin.message_track(second) == [
                MessageTrack("CG_TRACK_BUSY", TrackType.CONSUMED)
            ]
        finally:
            # Before the block exits: shutdown waits for running handlers.
            release.set()


async def test_consumed_but_filtered_by_the_subscription_tags(addr: str, broker: Any) -> None:
    topic = "TrackFiltered"
    tag_a, tag_b = await store(addr, broker, topic, ("a0", "TagA"), ("b1", "TagB"))
    wants_a, got_a = push_consumer(addr, "CG_TRACK_A", topic, "TagA")
    wants_b, got_b = push_consumer(addr, "CG_TRACK_B", topic, "TagB || TagC")
    async with wants_a, wants_b, AsyncAdmin(addr) as admin:
        await wait_for(lambda: got_a == ["a0"] and got_b == ["b1"], WAIT, "a0 and b1 handled")
        # Both offsets pass both messages: the broker skipped the other tag's message.
        await wait_for(
            lambda: (
                committed(broker, "CG_TRACK_A", topic) == 2
                and committed(broker, "CG_TRACK_B", topic) == 2
            ),
            WAIT,
            "both groups to commit offset 2",
        )
        assert await admin.message_track(tag_a) == [
            MessageTrack("CG_TRACK_A", TrackType.CONSUMED),
            MessageTrack("CG_TRACK_B", TrackType.CONSUMED_BUT_FILTERED),
        ]
        assert await admin.message_track(tag_b) == [
            MessageTrack("CG_TRACK_A", TrackType.CONSUMED_BUT_FILTERED),
            MessageTrack("CG_TRACK_B", TrackType.CONSUMED),
        ]


# -- lite pull consumers and groups nobody is connected for -----------------------------------


async def test_pull_for_an_online_lite_pull_group(addr: str, broker: Any) -> None:
    topic = "TrackPull"
    (message,) = await store(addr, broker, topic, ("m0", "TagA"))
    async with (
        AsyncLitePullConsumer(
            "CG_TRACK_LITE", addr, consume_from_where="first", auto_commit=False
        ) as consumer,
        AsyncAdmin(addr) as admin,
    ):
        consumer.subscribe(topic)
        await wait_for(lambda: online(broker, "CG_TRACK_LITE"), WAIT, "the lite group online")
        # Nothing read, nothing committed: a pulling group is PULL whatever its offsets.
        assert committed(broker, "CG_TRACK_LITE", topic) == -1
        assert await admin.message_track(message) == [MessageTrack("CG_TRACK_LITE", TrackType.PULL)]
        polled: list[MessageView] = []
        with anyio.fail_after(WAIT):
            while not polled:
                polled += await consumer.poll(0.5)
        assert [m.body for m in polled] == [b"m0"]
        await consumer.commit()
        assert committed(broker, "CG_TRACK_LITE", topic) == 1
        assert await admin.message_track(message) == [MessageTrack("CG_TRACK_LITE", TrackType.PULL)]


async def test_not_online_for_groups_with_offsets_and_no_consumer(addr: str, broker: Any) -> None:
    topic = "TrackGone"
    (message,) = await store(addr, broker, topic, ("m0", "TagA"))
    # A push group that consumed the message, with Java's 5 s commit interval: its offset is
    # committed at shutdown.
    pusher, handled = push_consumer(addr, "CG_TRACK_PUSH_GONE", topic, commit_interval=5.0)
    async with pusher:
        await wait_for(lambda: handled == ["m0"], WAIT, "m0 handled")
    # A lite pull group that committed an offset before the message and left.
    async with AsyncLitePullConsumer("CG_TRACK_LITE_GONE", addr, auto_commit=False) as puller:
        puller.subscribe(topic)
        await wait_for(lambda: online(broker, "CG_TRACK_LITE_GONE"), WAIT, "lite group online")
        await puller.commit({message.queue: 0})
    await wait_for(
        lambda: (
            not online(broker, "CG_TRACK_PUSH_GONE") and not online(broker, "CG_TRACK_LITE_GONE")
        ),
        WAIT,
        "both groups to leave",
    )
    assert committed(broker, "CG_TRACK_PUSH_GONE", topic) == 1
    assert committed(broker, "CG_TRACK_LITE_GONE", topic) == 0
    async with AsyncAdmin(addr) as admin:
        # Consumed or not, pushing or pulling before: nobody is online, so NOT_ONLINE.
        assert await admin.message_track(message) == [
            not_online("CG_TRACK_LITE_GONE"),
            not_online("CG_TRACK_PUSH_GONE"),
        ]


async def test_consume_broadcasting_for_an_online_broadcasting_group(
    addr: str, broker: Any, tmp_path: Path
) -> None:
    topic = "TrackBroadcast"
    (message,) = await store(addr, broker, topic, ("m0", "TagA"))
    broadcast, got_broadcast = push_consumer(
        addr, "CG_TRACK_BROADCAST", topic, message_model="broadcasting", offset_store_dir=tmp_path
    )
    clustered, got_clustered = push_consumer(addr, "CG_TRACK_CLUSTER", topic)
    async with broadcast, clustered, AsyncAdmin(addr) as admin:
        await wait_for(
            lambda: got_broadcast == ["m0"] and got_clustered == ["m0"], WAIT, "m0 handled"
        )
        await wait_for(
            lambda: committed(broker, "CG_TRACK_CLUSTER", topic) == 1,
            WAIT,
            "the clustering group to commit offset 1",
        )
        # The broker holds no offset of the broadcasting group, and asking it could only say
        # NOT_CONSUME_YET: Java 5.x answers CONSUME_BROADCASTING, without a description.
        assert committed(broker, "CG_TRACK_BROADCAST", topic) == -1
        assert await admin.message_track(message) == [
            MessageTrack("CG_TRACK_BROADCAST", TrackType.CONSUME_BROADCASTING),
            MessageTrack("CG_TRACK_CLUSTER", TrackType.CONSUMED),
        ]


# -- mqadmin ------------------------------------------------------------------------------------


async def test_query_msg_by_id_prints_the_track_table(
    addr: str, broker: Any, tmp_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = "TrackCli"
    (message,) = await store(addr, broker, topic, ("m0", "TagA"))
    gone, gone_handled = push_consumer(addr, "CG_TRACK_CLI_GONE", topic)
    async with gone:
        await wait_for(lambda: gone_handled == ["m0"], WAIT, "m0 handled by the group that goes")
    await wait_for(lambda: not online(broker, "CG_TRACK_CLI_GONE"), WAIT, "the group to leave")
    live, live_handled = push_consumer(addr, "CG_TRACK_CLI_LIVE", topic)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where mqadmin writes the body file
    async with live:
        await wait_for(lambda: live_handled == ["m0"], WAIT, "m0 handled by the live group")
        await wait_for(
            lambda: committed(broker, "CG_TRACK_CLI_LIVE", topic) == 1, WAIT, "offset committed"
        )
        # In a worker thread: the consumer stays connected while mqadmin runs.
        proc: subprocess.CompletedProcess[str] = await anyio.to_thread.run_sync(
            functools.partial(
                run_cli, tmp_home, MQADMIN, "queryMsgById", "-n", addr, "-i", message.offset_msg_id
            )
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert f"{'OffsetID:':<20} {message.offset_msg_id}" in lines
    assert f"{'Topic:':<20} {topic}" in lines
    # printMsg's key/value lines, a gap, then one line per group of the topic, sorted.
    # (Java prints the tracks back to back on one line; one per line reads better.)
    assert lines[-4:] == [
        "",
        "",
        "MessageTrack [consumerGroup=CG_TRACK_CLI_GONE, trackType=NOT_ONLINE, "
        "exceptionDesc=CODE:206 DESC:the consumer group[CG_TRACK_CLI_GONE] not online]",
        "MessageTrack [consumerGroup=CG_TRACK_CLI_LIVE, trackType=CONSUMED, exceptionDesc=null]",
    ]
    assert lines[-5].startswith("Message Body Path:")

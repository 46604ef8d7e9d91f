"""``mqadmin`` message sub-commands: queries by id, key and offset; send and consume."""

from __future__ import annotations

import argparse
import codecs
import tempfile
import time
from pathlib import Path

import anyio
import anyio.to_thread

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.pull import PullResult, PullStatus
from rocketmq_py.admin import _format as fmt
from rocketmq_py.admin._common import UserError
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.message import Message, MessageQueueRef, MessageView

__all__ = [
    "consume_message",
    "query_msg_by_id",
    "query_msg_by_key",
    "query_msg_by_offset",
    "send_message",
]


def _charset(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise UserError(f"unknown body charset {name!r}") from None


async def query_msg_by_id(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    charset = _charset(args.bodyFormat)
    ids = [i.strip() for i in args.msgId.split(",") if i.strip()]
    if not ids:
        raise UserError("no message id given")
    for msg_id in ids:
        message = await admin.view_message(msg_id, topic=args.topic)
        await _print_message(admin, message, dict(message.properties), charset)


async def query_msg_by_key(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    found = await admin.query_message(
        args.topic,
        args.msgKey,
        max_num=args.maxNum,
        begin_ms=args.beginTimestamp,
        end_ms=args.endTimestamp,
    )
    if not found:
        raise UserError(
            f"query message by key finished, but no message (topic {args.topic}, "
            f"key {args.msgKey})."
        )
    print(f"{'#Message ID':<50} {'#QID':>4} {'#Offset':>40}")
    for message in found:
        print(f"{message.msg_id:<50} {message.queue.queue_id:>4} {message.queue_offset:>40}")


async def query_msg_by_offset(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    charset = _charset(args.bodyFormat)
    queue = MessageQueueRef(args.topic, args.brokerName, args.queueId)
    result = await admin.pull(queue, args.offset, max_nums=1)
    if result.status is not PullStatus.FOUND or not result.messages:
        # Apache prints nothing then; say why, and fail.
        raise UserError(
            f"no message at offset {args.offset} of {_mq_str(queue)}: {result.status.value}, "
            f"offsets {result.min_offset}..{result.max_offset}"
        )
    message = result.messages[0]
    await _print_message(admin, message, _pulled_properties(message, result), charset)


def _pulled_properties(message: MessageView, result: PullResult) -> dict[str, str]:
    """The properties a Java pull consumer shows: the stored ones plus MIN/MAX_OFFSET."""
    props = dict(message.properties)
    props["MIN_OFFSET"] = str(result.min_offset)
    props["MAX_OFFSET"] = str(result.max_offset)
    return props


async def _print_message(
    admin: AsyncAdmin, message: MessageView, properties: dict[str, str], charset: str | None
) -> None:
    """Apache's ``QueryMsgByIdSubCommand.printMsg``: key/value lines, the body file and the
    consumer groups' tracks."""
    body_path = await anyio.to_thread.run_sync(_write_body_file, message)
    lines = [
        ("OffsetID:", message.offset_msg_id),
        ("Topic:", message.topic),
        ("Tags:", f"[{fmt.java_str(message.tags)}]"),
        ("Keys:", f"[{fmt.java_str(message.keys)}]"),
        ("Queue ID:", message.queue.queue_id),
        ("Queue Offset:", message.queue_offset),
        ("CommitLog Offset:", message.commit_log_offset),
        ("Reconsume Times:", message.reconsume_times),
        ("Born Timestamp:", fmt.time_millis_to_human2(message.born_timestamp)),
        ("Store Timestamp:", fmt.time_millis_to_human2(message.store_timestamp)),
        ("Born Host:", message.born_host),
        ("Store Host:", message.store_host),
        ("System Flag:", message.sys_flag),
        ("Properties:", fmt.java_map(properties)),
        ("Message Body Path:", body_path),
    ]
    if charset is not None:
        lines.append(("Message Body:", message.body.decode(charset, "replace")))
    for key, value in lines:
        print(f"{key:<20} {value}")
    try:
        tracks = await admin.message_track(message)
    except RocketMQError as exc:
        print(f"\n\nWARN: consume tracks unknown: {exc}")
        return
    if not tracks:
        print("\n\nWARN: No Consumer")
        return
    print("\n")
    for track in tracks:
        print(track)


def _write_body_file(message: MessageView) -> str:
    """Apache writes each body to ``/tmp/rocketmq/msgbodys/<msgId>``; this uses the system
    temporary directory (``$TMPDIR``)."""
    folder = Path(tempfile.gettempdir()) / "rocketmq" / "msgbodys"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / message.msg_id
    path.write_bytes(message.body)
    return str(path)


async def send_message(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.qid is not None and args.broker is None:
        raise UserError("Broker name must be set if the queue is chosen!")
    message = Message(args.topic, args.body.strip(), tags=args.tags, keys=args.key)
    queue = (
        MessageQueueRef(args.topic, args.broker, args.qid)
        if args.broker is not None and args.qid is not None
        else None
    )
    # Apache's tool uses the current time in ms as the producer group.
    group = str(time.time_ns() // 1_000_000)
    failure: RocketMQError | None = None
    async with AsyncProducer(group, args.namesrvAddr, send_timeout=admin.timeout) as producer:
        try:
            result = await producer.send(message, queue=queue)
        except RocketMQError as exc:  # raised outside the block, as itself
            failure = exc
    if failure is not None:
        raise failure
    row = "{:<32}  {:<4}  {:<20}    {}"
    print(row.format("#Broker Name", "#QID", "#Send Result", "#MsgId"))
    print(
        row.format(
            result.queue.broker_name, result.queue.queue_id, result.status.value, result.msg_id
        )
    )


async def consume_message(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.MessageNumber is not None and args.MessageNumber <= 0:
        raise UserError("Please input a positive messageNumber!")
    if args.queueId is not None and args.brokerName is None:
        raise UserError("Please set the brokerName before queueId!")
    if args.offset is not None and args.queueId is None:
        raise UserError("Please set queueId before offset!")
    count = args.MessageNumber or 128
    now = time.time_ns() // 1_000_000
    begin = end = 0
    try:
        if args.beginTimestamp is not None:
            begin = fmt.parse_timestamp(args.beginTimestamp)
        if args.endTimestamp is not None:
            end = fmt.parse_timestamp(args.endTimestamp)
    except ValueError:
        raise UserError("timestamps are epoch milliseconds or yyyy-MM-dd#HH:mm:ss:SSS") from None
    if begin > now:
        raise UserError("Please set the beginTimestamp before now!")
    if end > now:
        raise UserError("Please set the endTimestamp before now!")
    if end and begin > end:
        raise UserError(
            "Please make sure that the beginTimestamp is less than or equal to the endTimestamp"
        )
    consumer = _Consume(admin, args.consumerGroup, begin, end)
    if args.queueId is None:
        queues = await admin.subscribe_queues(args.topic)
        left = count
        for queue in queues:
            if left == 0:
                return
            low, high = await consumer.bounds(queue)
            # Apache's arithmetic, including its off-by-one on the remaining count.
            if high - low > left:
                print(f"The older {left} message of the {queue.queue_id} queue will be provided")
                high = low + left - 1
                left = 0
            else:
                left = left - (high - low) - 1
            await consumer.print_queue(queue, low, high)
        return
    queue = MessageQueueRef(args.topic, args.brokerName, args.queueId)
    offset = args.offset or 0
    low, high = await consumer.bounds(queue)
    if offset > high:
        print(f"{_mq_str(queue)} no matched msg, offset={offset}")
        return
    low = max(low, offset)
    if high - low > count:
        print(f"The oldler {count} message will be provided")
        high = low + count - 1
    await consumer.print_queue(queue, low, high)


def _mq_str(queue: MessageQueueRef) -> str:
    return (
        f"MessageQueue [topic={queue.topic}, brokerName={queue.broker_name}, "
        f"queueId={queue.queue_id}]"
    )


class _Consume:
    """``consumeMessage``'s pulling: Apache's ``pullMessageByQueue`` over the pull primitive."""

    def __init__(self, admin: AsyncAdmin, group: str, begin: int, end: int) -> None:
        self.admin = admin
        self.group = group
        self.begin = begin
        self.end = end

    async def bounds(self, queue: MessageQueueRef) -> tuple[int, int]:
        low = await self.admin.min_offset(queue)
        high = await self.admin.max_offset(queue)
        if self.begin > 0:
            low = await self.admin.search_offset(queue, self.begin)
        if self.end > 0:
            high = await self.admin.search_offset(queue, self.end)
        return low, high

    async def print_queue(self, queue: MessageQueueRef, low: int, high: int) -> None:
        offset = low
        while offset <= high:
            result = await self.admin.pull(
                queue, offset, max_nums=min(high - offset + 1, 32), group=self.group
            )
            offset = result.next_begin_offset
            if result.status is PullStatus.FOUND:
                print("Consume ok")
                for message in result.messages:
                    text = fmt.message_ext_str(message, _pulled_properties(message, result))
                    body = message.body.decode("utf-8", "replace")
                    print(f"MSGID: {message.msg_id} {text} BODY: {body}")
            elif result.status is PullStatus.NO_MATCHED_MSG:
                status = result.status.value
                print(f"{_mq_str(queue)} no matched msg. status={status}, offset={offset}")
            else:
                print(
                    f"{_mq_str(queue)} print msg finished. "
                    f"status={result.status.value}, offset={offset}"
                )
                return

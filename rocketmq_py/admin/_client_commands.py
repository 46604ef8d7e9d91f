"""``mqadmin`` consumer and producer sub-commands: progress and connections."""

from __future__ import annotations

import argparse
import contextlib
import enum

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py.admin import _format as fmt
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.protocol.bodies import ConsumeType
from rocketmq_py.protocol.codes import MQVersion
from rocketmq_py.protocol.topics import RETRY_GROUP_TOPIC_PREFIX

__all__ = ["consumer_connection", "consumer_progress", "producer_connection"]


async def consumer_progress(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.groupName:
        await _group_progress(admin, args.groupName, args.topicName)
        return
    row = "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}"
    print(row.format("#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"))
    topics = await admin.topic_list()
    groups = sorted(
        t[len(RETRY_GROUP_TOPIC_PREFIX) :] for t in topics if t.startswith(RETRY_GROUP_TOPIC_PREFIX)
    )
    for group in groups:
        tps = diff = count = 0
        version = type_desc = model_desc = ""
        with contextlib.suppress(RocketMQError):
            stats = await admin.consume_stats(group)
            tps, diff = int(stats.consume_tps), stats.diff_total
        with contextlib.suppress(RocketMQError):
            cc = await admin.consumer_connection(group)
            count = len(cc.connection_set)
            if count:
                version = MQVersion.desc(min(c.version for c in cc.connection_set))
                passive = cc.consume_type is ConsumeType.CONSUME_PASSIVELY
                type_desc = "PUSH" if passive else "PULL"
                if passive and cc.message_model is not None:
                    model_desc = cc.message_model.value
        print(
            row.format(
                fmt.front(group, 64),
                count,
                version if count else "OFFLINE",
                type_desc,
                model_desc,
                tps,
                diff,
            )
        )


async def _group_progress(admin: AsyncAdmin, group: str, topic: str | None) -> None:
    stats = await admin.consume_stats(group, topic)
    print(
        f"{'#Topic':<64}  {'#Broker Name':<32}  {'#QID':<4}  {'#Broker Offset':<20}  "
        f"{'#Consumer Offset':<20}  {'#Diff':<20} {'#Inflight':<20}#LastTime"
    )
    diff_total = inflight_total = 0
    for mq, wrapper in sorted(stats.offset_table.items()):
        # 4.x brokers send no pullOffset: nothing is known to be in flight then.
        pulled = wrapper.consumer_offset if wrapper.pull_offset is None else wrapper.pull_offset
        inflight = pulled - wrapper.consumer_offset
        diff_total += wrapper.diff
        inflight_total += inflight
        last = fmt.format_date(wrapper.last_timestamp) if wrapper.last_timestamp else "N/A"
        print(
            f"{fmt.front(mq.topic, 64):<64}  {fmt.front(mq.broker_name, 32):<32}  "
            f"{mq.queue_id:<4}  {wrapper.broker_offset:<20}  {wrapper.consumer_offset:<20}  "
            f"{wrapper.diff:<20} {inflight:<20} {last}"
        )
    print()
    print(f"Consume TPS: {stats.consume_tps:.2f}")
    print(f"Consume Diff Total: {diff_total}")
    print(f"Consume Inflight Total: {inflight_total}")


async def consumer_connection(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    cc = await admin.consumer_connection(args.consumerGroup, broker_addr=args.brokerAddr)
    print(f"{'#ClientId':<36} {'#ClientAddr':<22} {'#Language':<10} #Version")
    for conn in sorted(cc.connection_set, key=lambda c: (c.client_id, c.client_addr)):
        print(
            f"{conn.client_id:<36} {conn.client_addr:<22} {conn.language.name:<10} "
            f"{MQVersion.desc(conn.version)}"
        )
    print()
    print("Below is subscription:")
    print(f"{'#Topic':<20} #SubExpression")
    for _, sub in sorted(cc.subscription_table.items()):
        print(f"{sub.topic:<20} {sub.sub_string}")
    print()
    print(f"ConsumeType: {_enum_name(cc.consume_type)}")
    print(f"MessageModel: {_enum_name(cc.message_model)}")
    print(f"ConsumeFromWhere: {_enum_name(cc.consume_from_where)}")


def _enum_name(value: enum.Enum | None) -> str:
    return "null" if value is None else value.name


async def producer_connection(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    pc = await admin.producer_connection(args.producerGroup, args.topic)
    ordered = sorted(pc.connection_set, key=lambda c: (c.client_id, c.client_addr))
    for i, conn in enumerate(ordered, start=1):
        print(
            f"{i:04d}  {conn.client_id:<32} {conn.client_addr:<22} {conn.language.name:<8} "
            f"{MQVersion.desc(conn.version)}"
        )

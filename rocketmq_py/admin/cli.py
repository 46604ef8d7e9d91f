"""``mqadmin``: Apache's admin tool, sub-command for sub-command where implemented.

Usage mirrors Apache's ``bin/mqadmin``: ``mqadmin <subCommand> -n host:port [options]``.
User mistakes (bad arguments, unreachable servers, error answers) end with a one-line message
and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import enum
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from rocketmq_py._async.admin import (
    DLQ_GROUP_TOPIC_PREFIX,
    MAX_TIMESTAMP,
    RETRY_GROUP_TOPIC_PREFIX,
    TOOLS_CONSUMER_GROUP,
    AsyncAdmin,
)
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.pull import PullResult, PullStatus
from rocketmq_py.admin import _format as fmt
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.message import Message, MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import ConsumeType, TopicRouteData
from rocketmq_py.protocol.codes import MQVersion
from rocketmq_py.protocol.message import PermName

__all__ = ["main"]

Command = Callable[[AsyncAdmin, argparse.Namespace], Awaitable[None]]


async def _cluster_list(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    info = await admin.cluster_info()
    print(
        f"{'#Cluster Name':<16}  {'#Broker Name':<22}  {'#BID':<4}  {'#Addr':<22}  "
        f"{'#Version':<16}  {'#InTPS(LOAD)':>14}  {'#OutTPS(LOAD)':>14}  {'#ACTIVATED':<10}"
    )
    for cluster in sorted(info.cluster_addr_table):
        if args.clusterName and cluster != args.clusterName:
            continue
        for broker_name in sorted(info.cluster_addr_table[cluster]):
            data = info.broker_addr_table.get(broker_name)
            if data is None:
                continue
            for broker_id, addr in sorted(data.broker_addrs.items()):
                runtime = await _runtime_info(admin, addr)
                version = runtime.get("brokerVersionDesc", "-")
                in_tps = runtime.get("putTps", "-").split(" ")[0]
                out_tps = runtime.get("getTransferredTps", "-").split(" ")[0]
                active = runtime.get("brokerActive", "unreachable" if not runtime else "-")
                print(
                    f"{cluster:<16}  {broker_name:<22}  {broker_id:<4}  {addr:<22}  "
                    f"{version:<16}  {in_tps:>14}  {out_tps:>14}  {active:<10}"
                )


async def _runtime_info(admin: AsyncAdmin, addr: str) -> dict[str, str]:
    try:
        return await admin.broker_runtime_info(addr)
    except RocketMQError:
        return {}


async def _topic_list(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    for topic in await admin.topic_list(args.clusterName):
        print(topic)


async def _topic_route(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    route = await admin.topic_route(args.topic)
    if args.list:
        _print_route_table(route)
    else:
        print(json.dumps(json.loads(route.to_json(standard=True)), indent="\t", sort_keys=True))


def _print_route_table(route: TopicRouteData) -> None:
    row = "{:<45} {:<32} {:<50} {:<10} {:<10} {:<10}"
    print(
        row.format(
            "#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm"
        )
    )
    clusters = {b.broker_name: b for b in route.broker_datas}
    read_total = write_total = 0
    for queue in sorted(route.queue_datas, key=lambda q: q.broker_name):
        broker = clusters.get(queue.broker_name)
        cluster = broker.cluster if broker else "-"
        addrs = (
            ",".join(f"{i}:{a}" for i, a in sorted(broker.broker_addrs.items())) if broker else "-"
        )
        print(
            row.format(
                cluster,
                queue.broker_name,
                addrs,
                queue.read_queue_nums,
                queue.write_queue_nums,
                PermName.perm_to_string(queue.perm),
            )
        )
        read_total += queue.read_queue_nums
        write_total += queue.write_queue_nums
    print(
        f"{'Total:':<45} {len(route.queue_datas):<32} {'':<50} {read_total:<10} {write_total:<10}"
    )


async def _update_topic(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    addrs = await admin.create_topic(
        args.topic,
        cluster=args.clusterName,
        broker_addr=args.brokerAddr,
        read_queue_nums=args.readQueueNums,
        write_queue_nums=args.writeQueueNums,
        perm=args.perm,
        order=args.order,
    )
    for addr in addrs:
        print(f"create topic to {addr} success.")
    print(
        f"TopicConfig [topicName={args.topic}, readQueueNums={args.readQueueNums}, "
        f"writeQueueNums={args.writeQueueNums}, perm={PermName.perm_to_string(args.perm)}, "
        f"topicFilterType=SINGLE_TAG, topicSysFlag=0, order={str(args.order).lower()}]"
    )


async def _update_kv(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    await admin.put_kv_config(args.namespace, args.key, args.value)
    print(
        f"create or update kv config to namespace success: {args.namespace} {args.key}={args.value}"
    )


async def _get_kv(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.key:
        value = await admin.get_kv_config(args.namespace, args.key)
        if value is None:
            raise _UserError(f"no config item {args.namespace}/{args.key}")
        print(value)
    else:
        for key, value in sorted((await admin.get_kv_list(args.namespace)).items()):
            print(f"{key}={value}")


async def _delete_kv(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    await admin.delete_kv_config(args.namespace, args.key)
    print(f"delete kv config from namespace success: {args.namespace} {args.key}")


async def _wipe_write_perm(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    count = await admin.wipe_write_perm(args.brokerName)
    print(f"wipe write perm of broker[{args.brokerName}] in name server OK, {count}")


async def _add_write_perm(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    count = await admin.add_write_perm(args.brokerName)
    print(f"add write perm of broker[{args.brokerName}] in name server OK, {count}")


# -- topics and groups ----------------------------------------------------------------------


async def _topic_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    table = await admin.topic_stats(args.topic, cluster=args.clusterName)
    row = "{:<32}  {:<4}  {:<20}  {:<20}    {}"
    print(row.format("#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"))
    for mq, offset in sorted(table.offset_table.items()):
        updated = fmt.time_millis_to_human2(offset.last_update_timestamp)
        print(
            row.format(
                fmt.front(mq.broker_name, 32),
                mq.queue_id,
                offset.min_offset,
                offset.max_offset,
                updated if offset.last_update_timestamp > 0 else "",
            )
        )
    print()
    print(f"Topic Put TPS: {table.topic_put_tps or 0.0}")


async def _delete_topic(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    await admin.delete_topic(args.topic, args.clusterName)
    print(f"delete topic [{args.topic}] from cluster [{args.clusterName}] success.")
    print(f"delete topic [{args.topic}] from NameServer success.")


async def _update_sub_group(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    # Apache's tool starts from consumeBroadcastEnable=false and consumeFromMinEnable=false.
    settings = {
        "consume_enable": (
            fmt.java_bool(args.consumeEnable) if args.consumeEnable is not None else True
        ),
        "consume_from_min_enable": fmt.java_bool(args.consumeFromMinEnable or "false"),
        "consume_broadcast_enable": fmt.java_bool(args.consumeBroadcastEnable or "false"),
        "consume_message_orderly": fmt.java_bool(args.consumeMessageOrderly or "false"),
        "retry_queue_nums": args.retryQueueNums,
        "retry_max_times": args.retryMaxTimes,
        "broker_id": args.brokerId,
        "which_broker_when_consume_slowly": args.whichBrokerWhenConsumeSlowly,
        "notify_consumer_ids_changed_enable": (
            fmt.java_bool(args.notifyConsumerIdsChanged)
            if args.notifyConsumerIdsChanged is not None
            else True
        ),
    }
    addrs = await admin.update_subscription_group(
        args.groupName, cluster=args.clusterName, broker_addr=args.brokerAddr, **settings
    )
    for addr in addrs:
        print(f"create subscription group to {addr} success.")
    s = {k: fmt.java_str(v) for k, v in settings.items()}
    print(
        f"SubscriptionGroupConfig [groupName={args.groupName}, "
        f"consumeEnable={s['consume_enable']}, "
        f"consumeFromMinEnable={s['consume_from_min_enable']}, "
        f"consumeBroadcastEnable={s['consume_broadcast_enable']}, "
        f"retryQueueNums={s['retry_queue_nums']}, retryMaxTimes={s['retry_max_times']}, "
        f"brokerId={s['broker_id']}, "
        f"whichBrokerWhenConsumeSlowly={s['which_broker_when_consume_slowly']}, "
        f"notifyConsumerIdsChangedEnable={s['notify_consumer_ids_changed_enable']}]"
    )


async def _delete_sub_group(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    group = args.groupName
    remove = fmt.java_bool(args.removeOffset or "false")
    addrs = await admin.delete_subscription_group(
        group, cluster=args.clusterName, broker_addr=args.brokerAddr, remove_offset=remove
    )
    if args.brokerAddr is not None:
        print(f"delete subscription group [{group}] from broker [{args.brokerAddr}] success.")
        return
    for addr in addrs:
        print(
            f"delete subscription group [{group}] from broker [{addr}] "
            f"in cluster [{args.clusterName}] success."
        )
    # As Apache: the group's retry and dead-letter topics go too, errors ignored.
    for prefix in (RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX):
        with contextlib.suppress(RocketMQError):
            await admin.delete_topic(prefix + group, args.clusterName)


# -- consumers and producers ----------------------------------------------------------------


async def _consumer_progress(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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


async def _consumer_connection(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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


async def _producer_connection(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    pc = await admin.producer_connection(args.producerGroup, args.topic)
    ordered = sorted(pc.connection_set, key=lambda c: (c.client_id, c.client_addr))
    for i, conn in enumerate(ordered, start=1):
        print(
            f"{i:04d}  {conn.client_id:<32} {conn.client_addr:<22} {conn.language.name:<8} "
            f"{MQVersion.desc(conn.version)}"
        )


# -- brokers --------------------------------------------------------------------------------


async def _broker_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.brokerAddr:
        table = await admin.broker_runtime_info(args.brokerAddr)
        for key, value in sorted(table.items()):
            print(f"{key:<32}: {value}")
        return
    failures: list[str] = []
    for addr in await admin.cluster_broker_addrs(args.clusterName, slaves=True):
        try:
            table = await admin.broker_runtime_info(addr)
        except RocketMQError as exc:
            failures.append(f"{addr}: {exc}")
            continue
        for key, value in sorted(table.items()):
            print(f"{addr:<24} {key:<32}: {value}")
    if failures:
        raise _UserError("; ".join(failures))


_TRANSACTION_COLUMNS = (
    ("#Half Pending", "transactionHalfPending"),
    ("#Half Offset", "transactionHalfOffset"),
    ("#Half Max", "transactionHalfMaxOffset"),
    ("#Op Offset", "transactionOpOffset"),
    ("#Op Max", "transactionOpMaxOffset"),
    ("#Checks", "transactionCheckedTimes"),
    ("#No Producer", "transactionCheckNoProducer"),
    ("#Discarded", "transactionCheckDiscarded"),
    ("#Dup Commits", "transactionDuplicateCommits"),
)


async def _transaction_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.brokerAddr:
        addrs = [args.brokerAddr]
    else:
        addrs = await admin.cluster_broker_addrs(args.clusterName)
        if not addrs:
            raise _UserError(f"no master broker in cluster {args.clusterName!r}")
    rows: list[tuple[str, dict[str, int]]] = []
    failures: list[str] = []
    for addr in addrs:
        try:
            rows.append((addr, await admin.transaction_status(addr)))
        except RocketMQError as exc:
            failures.append(f"{addr}: {exc}")
    if rows:
        print(f"{'#Broker':<24}" + "".join(f"  {title:>13}" for title, _ in _TRANSACTION_COLUMNS))
    for addr, status in rows:
        cells = "".join(f"  {status.get(key, '-')!s:>13}" for _, key in _TRANSACTION_COLUMNS)
        print(f"{addr:<24}{cells}")
    if failures:
        raise _UserError("; ".join(failures))


_TIMER_KEYS = (
    ("timerPendingTotal", "pending"),
    ("timerFiredTotal", "fired"),
    ("timerRecalledTotal", "recalled"),
    ("timerDedupSkipped", "dedupe-skipped"),
    ("timerReadBehind", "wheel behind (ms)"),
    ("timerOffsetBehind", "queue entries unread"),
    ("timerDueLagP50Ms", "due lag p50 (ms)"),
    ("timerDueLagP99Ms", "due lag p99 (ms)"),
    ("timerDueLagMaxMs", "due lag max (ms)"),
    ("timerDiskBytes", "timer files (bytes)"),
)


async def _timer_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.brokerAddr:
        addrs = [args.brokerAddr]
    else:
        addrs = await admin.cluster_broker_addrs(args.clusterName, slaves=False)
    failures: list[str] = []
    for addr in addrs:
        try:
            table = await admin.broker_runtime_info(addr)
        except RocketMQError as exc:
            failures.append(f"{addr}: {exc}")
            continue
        print(f"#Broker {addr}")
        if table.get("timerWheelEnable") == "false":
            print("  timer messages disabled (timerWheelEnable=false)")
            continue
        for key, label in _TIMER_KEYS:
            print(f"  {label:<22}: {table.get(key, '-')}")
        by_topic = [p.rpartition(":") for p in table.get("timerPendingByTopic", "").split(";") if p]
        print(f"  {'#Topic':<48} {'#Pending':>10}")
        for topic, _, count in sorted(by_topic):
            print(f"  {topic:<48} {count:>10}")
    if failures:
        raise _UserError("; ".join(failures))


async def _get_broker_config(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.brokerAddr:
        await _print_broker_config(
            admin, f"============{args.brokerAddr}============", args.brokerAddr
        )
        return
    info = await admin.cluster_info()
    names = info.cluster_addr_table.get(args.clusterName)
    if not names:
        raise _UserError(f"no cluster {args.clusterName!r} in the name server")
    for name in sorted(names):
        data = info.broker_addr_table.get(name)
        if data is None:
            continue
        master = data.broker_addrs.get(0)
        if master is not None:
            await _print_broker_config(admin, f"============Master: {master}============", master)
        for broker_id, slave in sorted(data.broker_addrs.items()):
            if broker_id != 0:
                title = f"============My Master: {master or 'NO_MASTER'}=====Slave: {slave}"
                await _print_broker_config(admin, f"{title}============", slave)


async def _print_broker_config(admin: AsyncAdmin, title: str, addr: str) -> None:
    config = await admin.broker_config(addr)
    print(title)
    for key, value in sorted(config.items()):
        print(f"{key:<50}=  {value}")
    print()


async def _update_broker_config(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    addrs = await admin.update_broker_config(
        {args.key.strip(): args.value.strip()},
        cluster=args.clusterName,
        broker_addr=args.brokerAddr,
        slaves=args.updateAllBroker is not None,
    )
    for addr in addrs:
        print(f"update broker config success, {addr}")


# -- messages -------------------------------------------------------------------------------


def _charset(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise _UserError(f"unknown body charset {name!r}") from None


async def _query_msg_by_id(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    charset = _charset(args.bodyFormat)
    ids = [i.strip() for i in args.msgId.split(",") if i.strip()]
    if not ids:
        raise _UserError("no message id given")
    for msg_id in ids:
        message = await admin.view_message(msg_id, topic=args.topic)
        await _print_message(admin, message, dict(message.properties), charset)


async def _query_msg_by_key(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    found = await admin.query_message(
        args.topic,
        args.msgKey,
        max_num=args.maxNum,
        begin_ms=args.beginTimestamp,
        end_ms=args.endTimestamp,
    )
    if not found:
        raise _UserError(
            f"query message by key finished, but no message (topic {args.topic}, "
            f"key {args.msgKey})."
        )
    print(f"{'#Message ID':<50} {'#QID':>4} {'#Offset':>40}")
    for message in found:
        print(f"{message.msg_id:<50} {message.queue.queue_id:>4} {message.queue_offset:>40}")


async def _query_msg_by_offset(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    charset = _charset(args.bodyFormat)
    queue = MessageQueueRef(args.topic, args.brokerName, args.queueId)
    result = await admin.pull(queue, args.offset, max_nums=1)
    if result.status is not PullStatus.FOUND or not result.messages:
        # Apache prints nothing then; say why, and fail.
        raise _UserError(
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


async def _send_message(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.qid is not None and args.broker is None:
        raise _UserError("Broker name must be set if the queue is chosen!")
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


async def _consume_message(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.MessageNumber is not None and args.MessageNumber <= 0:
        raise _UserError("Please input a positive messageNumber!")
    if args.queueId is not None and args.brokerName is None:
        raise _UserError("Please set the brokerName before queueId!")
    if args.offset is not None and args.queueId is None:
        raise _UserError("Please set queueId before offset!")
    count = args.MessageNumber or 128
    now = time.time_ns() // 1_000_000
    begin = end = 0
    try:
        if args.beginTimestamp is not None:
            begin = fmt.parse_timestamp(args.beginTimestamp)
        if args.endTimestamp is not None:
            end = fmt.parse_timestamp(args.endTimestamp)
    except ValueError:
        raise _UserError("timestamps are epoch milliseconds or yyyy-MM-dd#HH:mm:ss:SSS") from None
    if begin > now:
        raise _UserError("Please set the beginTimestamp before now!")
    if end > now:
        raise _UserError("Please set the endTimestamp before now!")
    if end and begin > end:
        raise _UserError(
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


class _UserError(Exception):
    """A mistake reported in one line (bad combination of options, nothing found ...)."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports errors in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="mqadmin",
        description="RocketMQ administration (Apache mqadmin sub-commands).",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="<subCommand>", parser_class=_ArgumentParser
    )

    def add(name: str, help_text: str, func: Command) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "-n",
            "--namesrvAddr",
            metavar="ADDR",
            help="name server list, e.g. '127.0.0.1:9876;10.0.0.2:9876' (default $NAMESRV_ADDR)",
        )
        p.set_defaults(func=func)
        return p

    p = add("clusterList", "List clusters and their brokers", _cluster_list)
    p.add_argument("-c", "--clusterName", help="only this cluster")
    p = add("topicList", "List every topic (or those of one cluster)", _topic_list)
    p.add_argument("-c", "--clusterName", help="only topics with queues in this cluster")
    p = add("topicRoute", "Show the route of a topic", _topic_route)
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-l", "--list", action="store_true", help="print as a table")
    p = add("updateTopic", "Create or update a topic on a broker or a whole cluster", _update_topic)
    p.add_argument("-t", "--topic", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="one broker, host:port")
    target.add_argument("-c", "--clusterName", help="every master of a cluster")
    p.add_argument("-r", "--readQueueNums", type=int, default=8)
    p.add_argument("-w", "--writeQueueNums", type=int, default=8)
    p.add_argument("-p", "--perm", type=int, default=6, help="2 = W, 4 = R, 6 = RW")
    p.add_argument(
        "-o", "--order", type=lambda v: v.lower() == "true", default=False, help="true|false"
    )
    p = add("updateKvConfig", "Create or update a name server KV config entry", _update_kv)
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key", required=True)
    p.add_argument("-v", "--value", required=True)
    p = add("getKvConfig", "Show a KV config entry, or a whole namespace without -k", _get_kv)
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key")
    p = add("deleteKvConfig", "Delete a name server KV config entry", _delete_kv)
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key", required=True)
    p = add(
        "wipeWritePerm", "Wipe write permission of a broker in the name server", _wipe_write_perm
    )
    p.add_argument("-b", "--brokerName", required=True)
    p = add(
        "addWritePerm", "Restore write permission of a broker in the name server", _add_write_perm
    )
    p.add_argument("-b", "--brokerName", required=True)
    p = add("topicStatus", "Examine topic status info", _topic_status)
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-c", "--clusterName", help="only the brokers of this cluster")
    p = add("deleteTopic", "Delete topic from broker and NameServer.", _delete_topic)
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-c", "--clusterName", required=True, help="delete topic from which cluster")
    p = add("updateSubGroup", "Update or create subscription group.", _update_sub_group)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="create subscription group to which broker")
    target.add_argument("-c", "--clusterName", help="create subscription group to which cluster")
    p.add_argument("-g", "--groupName", required=True, help="consumer group name")
    p.add_argument("-s", "--consumeEnable", metavar="BOOL", help="consume enable (true)")
    p.add_argument("-m", "--consumeFromMinEnable", metavar="BOOL", help="from min offset (false)")
    p.add_argument("-d", "--consumeBroadcastEnable", metavar="BOOL", help="broadcast (false)")
    p.add_argument(
        "-o", "--consumeMessageOrderly", metavar="BOOL", help="consume message orderly (false)"
    )
    p.add_argument("-q", "--retryQueueNums", type=int, default=1, help="retry queue nums (1)")
    p.add_argument("-r", "--retryMaxTimes", type=int, default=16, help="retry max times (16)")
    p.add_argument("-i", "--brokerId", type=int, default=0, help="consumer from which broker id")
    p.add_argument(
        "-w",
        "--whichBrokerWhenConsumeSlowly",
        type=int,
        default=1,
        help="which broker id when consume slowly (1)",
    )
    p.add_argument(
        "-a", "--notifyConsumerIdsChanged", metavar="BOOL", help="notify consumerId changed (true)"
    )
    p = add("deleteSubGroup", "Delete subscription group from broker.", _delete_sub_group)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="delete subscription group from which broker")
    target.add_argument("-c", "--clusterName", help="delete subscription group from which cluster")
    p.add_argument("-g", "--groupName", required=True, help="subscription group name")
    p.add_argument("-r", "--removeOffset", metavar="BOOL", help="remove offset (false)")
    p = add("consumerProgress", "Query consumers's progress, speed", _consumer_progress)
    p.add_argument("-g", "--groupName", help="consumer group name (default: every group)")
    p.add_argument("-t", "--topicName", help="topic name (with -g)")
    p = add(
        "consumerConnection",
        "Query consumer's socket connection, client version and subscription.",
        _consumer_connection,
    )
    p.add_argument("-g", "--consumerGroup", required=True, help="consumer group name")
    p.add_argument("-b", "--brokerAddr", help="broker address")
    p = add(
        "producerConnection",
        "Query producer's socket connection and client version.",
        _producer_connection,
    )
    p.add_argument("-g", "--producerGroup", required=True, help="producer group name")
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p = add(
        "timerStatus",
        "Show timer (scheduled) messages of brokers: pending per topic, fired, recalled, "
        "due lag and how far the wheel is behind (from GET_BROKER_RUNTIME_INFO's timer* keys).",
        _timer_status,
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="one broker, host:port")
    target.add_argument("-c", "--clusterName", help="every master of a cluster")
    p = add("brokerStatus", "Fetch broker runtime status data.", _broker_status)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="Broker address")
    target.add_argument("-c", "--clusterName", help="which cluster")
    p = add(
        "transactionStatus",
        "Show the transactional (half) messages of each broker.",
        _transaction_status,
    )
    p.description = (
        "Show transactional (half) messages per broker: half messages pending a decision, "
        "the check-back progress and max offsets of the half and OP queues, check-backs sent, "
        "those with no producer online, messages given up (TRANS_CHECK_MAX_TIME_TOPIC) and "
        "repeated commits that stored no duplicate."
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="one broker, host:port")
    target.add_argument("-c", "--clusterName", help="every master of a cluster")
    p = add(
        "getBrokerConfig", "Get broker config by cluster or special broker.", _get_broker_config
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="get which broker")
    target.add_argument("-c", "--clusterName", help="get which cluster")
    p = add("updateBrokerConfig", "Update broker's config.", _update_broker_config)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="update which broker")
    target.add_argument("-c", "--clusterName", help="update which cluster")
    p.add_argument(
        "-a",
        "--updateAllBroker",
        nargs="?",
        const="true",
        metavar="BOOL",
        help="with -c, update the slaves too",
    )
    p.add_argument("-k", "--key", required=True, help="config key")
    p.add_argument("-v", "--value", required=True, help="config value")
    p = add("queryMsgById", "Query Message by Id.", _query_msg_by_id)
    p.add_argument("-i", "--msgId", required=True, help="message id(s), comma separated")
    p.add_argument("-t", "--topic", help="topic name (to look the id up as a UNIQ_KEY)")
    p.add_argument("-f", "--bodyFormat", metavar="CHARSET", help="print the body in this charset")
    p = add("queryMsgByKey", "Query Message by Key.", _query_msg_by_key)
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-k", "--msgKey", required=True, help="Message Key")
    p.add_argument("-b", "--beginTimestamp", type=int, default=0, help="Begin timestamp(ms)")
    p.add_argument(
        "-e", "--endTimestamp", type=int, default=MAX_TIMESTAMP, help="End timestamp(ms)"
    )
    p.add_argument("-m", "--maxNum", type=int, default=64, help="most messages returned (64)")
    p = add("queryMsgByOffset", "Query Message by offset.", _query_msg_by_offset)
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-b", "--brokerName", required=True, help="Broker Name")
    p.add_argument("-i", "--queueId", type=int, required=True, help="Queue Id")
    p.add_argument("-o", "--offset", type=int, required=True, help="Queue Offset")
    p.add_argument("-f", "--bodyFormat", metavar="CHARSET", help="print the body in this charset")
    p = add("sendMessage", "Send a message.", _send_message)
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-p", "--body", required=True, help="UTF-8 string format of the message body")
    p.add_argument("-k", "--key", help="Message keys")
    p.add_argument("-c", "--tags", help="Message tags")
    p.add_argument("-b", "--broker", help="Send message to target broker")
    p.add_argument("-i", "--qid", type=int, help="Send message to target queue")
    p = add("consumeMessage", "Consume message.", _consume_message)
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-b", "--brokerName", help="Broker name")
    p.add_argument("-i", "--queueId", type=int, help="Queue Id")
    p.add_argument("-o", "--offset", type=int, help="Queue offset")
    p.add_argument(
        "-g", "--consumerGroup", default=TOOLS_CONSUMER_GROUP, help="Consumer group name"
    )
    p.add_argument(
        "-s", "--beginTimestamp", help="Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"
    )
    p.add_argument(
        "-e", "--endTimestamp", help="End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"
    )
    p.add_argument("-c", "--MessageNumber", type=int, help="Number of message to be consumed (128)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mqadmin``; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    func: Command = args.func
    failures: list[Exception] = []

    async def run() -> None:
        async with AsyncAdmin(args.namesrvAddr) as admin:
            # Caught inside the block: leaving it with an exception makes the connection pool's
            # task group wrap the error in an ExceptionGroup, which would print a traceback.
            try:
                await func(admin, args)
            except (RocketMQError, _UserError, OSError) as exc:  # OSError: the body file
                failures.append(exc)

    try:
        anyio.run(run)
    except (RocketMQError, _UserError) as exc:  # raised while entering, e.g. no address
        failures.append(exc)
    except KeyboardInterrupt:
        return 130
    if failures:
        # Server remarks can span lines (Java appends a FAQ link): keep the error on one line.
        message = " ".join(part.strip() for part in str(failures[0]).splitlines() if part.strip())
        print(f"mqadmin {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

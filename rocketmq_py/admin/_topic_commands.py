"""``mqadmin`` cluster, topic, KV-config, permission and subscription-group sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import json

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py.admin import _format as fmt
from rocketmq_py.admin._common import UserError, runtime_info
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.protocol.bodies import TopicRouteData
from rocketmq_py.protocol.message import PermName
from rocketmq_py.protocol.topics import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX

__all__ = [
    "add_write_perm",
    "cluster_list",
    "delete_kv",
    "delete_sub_group",
    "delete_topic",
    "get_kv",
    "topic_list",
    "topic_route",
    "topic_status",
    "update_kv",
    "update_sub_group",
    "update_topic",
    "wipe_write_perm",
]


async def cluster_list(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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
                runtime = await runtime_info(admin, addr)
                version = runtime.get("brokerVersionDesc", "-")
                in_tps = runtime.get("putTps", "-").split(" ")[0]
                out_tps = runtime.get("getTransferredTps", "-").split(" ")[0]
                active = runtime.get("brokerActive", "unreachable" if not runtime else "-")
                print(
                    f"{cluster:<16}  {broker_name:<22}  {broker_id:<4}  {addr:<22}  "
                    f"{version:<16}  {in_tps:>14}  {out_tps:>14}  {active:<10}"
                )


async def topic_list(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    for topic in await admin.topic_list(args.clusterName):
        print(topic)


async def topic_route(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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


async def update_topic(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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


async def update_kv(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    await admin.put_kv_config(args.namespace, args.key, args.value)
    print(
        f"create or update kv config to namespace success: {args.namespace} {args.key}={args.value}"
    )


async def get_kv(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.key:
        value = await admin.get_kv_config(args.namespace, args.key)
        if value is None:
            raise UserError(f"no config item {args.namespace}/{args.key}")
        print(value)
    else:
        for key, value in sorted((await admin.get_kv_list(args.namespace)).items()):
            print(f"{key}={value}")


async def delete_kv(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    await admin.delete_kv_config(args.namespace, args.key)
    print(f"delete kv config from namespace success: {args.namespace} {args.key}")


async def wipe_write_perm(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    count = await admin.wipe_write_perm(args.brokerName)
    print(f"wipe write perm of broker[{args.brokerName}] in name server OK, {count}")


async def add_write_perm(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    count = await admin.add_write_perm(args.brokerName)
    print(f"add write perm of broker[{args.brokerName}] in name server OK, {count}")


async def topic_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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


async def delete_topic(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    await admin.delete_topic(args.topic, args.clusterName)
    print(f"delete topic [{args.topic}] from cluster [{args.clusterName}] success.")
    print(f"delete topic [{args.topic}] from NameServer success.")


async def update_sub_group(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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


async def delete_sub_group(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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

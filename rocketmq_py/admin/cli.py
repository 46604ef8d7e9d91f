"""``mqadmin``: Apache's admin tool, sub-command for sub-command where implemented.

Usage mirrors Apache's ``bin/mqadmin``: ``mqadmin <subCommand> -n host:port [options]``.
User mistakes (bad arguments, unreachable servers, error answers) end with a one-line message
and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.protocol.bodies import KVTable, TopicRouteData
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
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
        response = await admin._pool.request(
            addr,
            RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO),
            timeout=admin.timeout,
        )
    except RocketMQError:
        return {}
    if response.code != 0 or not response.body:
        return {}
    return dict(KVTable.from_json(response.body).table)


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


class _UserError(Exception):
    pass


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
            except (RocketMQError, _UserError) as exc:
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

"""``mqadmin`` broker sub-commands: status, transactions, timers and configuration."""

from __future__ import annotations

import argparse

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py.admin._common import UserError
from rocketmq_py.exceptions import RocketMQError

__all__ = [
    "broker_status",
    "get_broker_config",
    "timer_status",
    "transaction_status",
    "update_broker_config",
]


async def broker_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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
        raise UserError("; ".join(failures))


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


async def transaction_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.brokerAddr:
        addrs = [args.brokerAddr]
    else:
        addrs = await admin.cluster_broker_addrs(args.clusterName)
        if not addrs:
            raise UserError(f"no master broker in cluster {args.clusterName!r}")
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
        raise UserError("; ".join(failures))


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


async def timer_status(admin: AsyncAdmin, args: argparse.Namespace) -> None:
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
        raise UserError("; ".join(failures))


async def get_broker_config(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    if args.brokerAddr:
        await _print_broker_config(
            admin, f"============{args.brokerAddr}============", args.brokerAddr
        )
        return
    info = await admin.cluster_info()
    names = info.cluster_addr_table.get(args.clusterName)
    if not names:
        raise UserError(f"no cluster {args.clusterName!r} in the name server")
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


async def update_broker_config(admin: AsyncAdmin, args: argparse.Namespace) -> None:
    addrs = await admin.update_broker_config(
        {args.key.strip(): args.value.strip()},
        cluster=args.clusterName,
        broker_addr=args.brokerAddr,
        slaves=args.updateAllBroker is not None,
    )
    for addr in addrs:
        print(f"update broker config success, {addr}")

"""The broker process: store, managers, processors, servers and the periodic services.

``async with BrokerController(settings) as broker:`` loads (and if needed recovers) the store,
binds the client port and the fast port (listenPort - 2), registers with every name server and
runs the periodic tasks; leaving the block unregisters, flushes and closes everything.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import anyio
import anyio.abc

from broker._config import Settings, expand_home
from broker._server import Channel, Dispatcher, RemotingServer
from broker._server.outbound import OutboundConnection
from broker.config import broker_settings, local_ip, parse_delay_levels
from broker.managers import (
    ConsumerManager,
    ConsumerOffsetManager,
    ProducerManager,
    SubscriptionGroupManager,
    TopicConfigManager,
)
from broker.managers.rebalance_lock import RebalanceLockManager
from broker.processors import install_processors
from broker.processors.pull_hold import PullHoldService
from broker.schedule import ScheduleMessageService
from broker.store import FlushDiskType, MessageStore, StoreConfig
from broker.timer import RecallProcessor, TimerMessageService
from broker.transaction.check import TransactionalMessageCheckService
from rocketmq_py.exceptions import ProtocolError, ResponseError, TransportError
from rocketmq_py.protocol.bodies import RegisterBrokerBody
from rocketmq_py.protocol.codes import MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import NotifyConsumerIdsChangedRequestHeader
from rocketmq_py.protocol.headers.namesrv import (
    RegisterBrokerRequestHeader,
    UnRegisterBrokerRequestHeader,
)

__all__ = ["BrokerController"]

log = logging.getLogger("broker")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BrokerController:
    """A running broker.

    Args:
        settings: effective configuration (``broker.config.BROKER_SETTINGS`` keys).
        clock: current time in ms.
    """

    def __init__(
        self, settings: Settings | None = None, clock: Callable[[], int] = _now_ms
    ) -> None:
        self.settings = s = settings or broker_settings()
        self.clock = clock
        self.cluster_name: str = s["brokerClusterName"]
        self.broker_name: str = s["brokerName"]
        self.broker_id: int = s["brokerId"]
        self.broker_ip: str = s["brokerIP1"] or local_ip()
        self.listen_port: int = s["listenPort"]
        self.broker_addr = f"{self.broker_ip}:{self.listen_port}"
        self.namesrv_addrs = [a.strip() for a in str(s["namesrvAddr"]).split(";") if a.strip()]
        self.delay_levels = parse_delay_levels(s["messageDelayLevel"])
        root = Path(expand_home(s["storePathRootDir"]))
        self.store_root = root
        config_dir = root / "config"
        self.store = MessageStore(
            StoreConfig(
                store_path_root_dir=str(root),
                store_path_commit_log=expand_home(s["storePathCommitLog"]) or None,
                mapped_file_size_commit_log=s["mappedFileSizeCommitLog"],
                mapped_file_size_consume_queue=s["mappedFileSizeConsumeQueue"],
                flush_disk_type=FlushDiskType(s["flushDiskType"]),
                flush_interval_commit_log_ms=s["flushIntervalCommitLog"],
                flush_commit_log_least_pages=s["flushCommitLogLeastPages"],
                flush_commit_log_thorough_interval_ms=s["flushCommitLogThoroughInterval"],
                sync_flush_timeout_ms=s["syncFlushTimeout"],
                flush_interval_consume_queue_ms=s["flushIntervalConsumeQueue"],
                flush_consume_queue_thorough_interval_ms=s["flushConsumeQueueThoroughInterval"],
                delete_when=s["deleteWhen"],
                file_reserved_time_hours=s["fileReservedTime"],
                disk_max_used_space_ratio=s["diskMaxUsedSpaceRatio"],
                max_message_size=s["maxMessageSize"],
                max_hash_slot_num=s["maxHashSlotNum"],
                max_index_num=s["maxIndexNum"],
                message_index_enable=s["messageIndexEnable"],
                check_crc_on_recover=s["checkCRCOnRecover"],
                store_host=(self.broker_ip, self.listen_port),
                delay_level_table_ms=dict(self.delay_levels),
            ),
            clock_ms=clock,
        )
        self.topics = TopicConfigManager(
            config_dir,
            cluster_name=self.cluster_name,
            broker_name=self.broker_name,
            auto_create_topic_enable=s["autoCreateTopicEnable"],
            default_topic_queue_nums=s["defaultTopicQueueNums"],
            clock_ms=clock,
        )
        self.offsets = ConsumerOffsetManager(config_dir)
        self.groups = SubscriptionGroupManager(
            config_dir, auto_create_subscription_group=s["autoCreateSubscriptionGroup"]
        )
        self.producers = ProducerManager()
        self.consumers = ConsumerManager(notify_ids_changed=self._notify_consumer_ids_changed)
        self.rebalance_locks = RebalanceLockManager()
        self.pull_hold = PullHoldService(self)
        self.schedule = ScheduleMessageService(self, config_dir / "delayOffset.json")
        self.timer = TimerMessageService(self, root, config_dir / "timerCheckpoint.json")
        self.transaction_check = TransactionalMessageCheckService(self)
        self.dispatcher = Dispatcher()
        install_processors(self, self.dispatcher)
        RecallProcessor(self).install(self.dispatcher)
        self.dispatcher.on_channel_closed(self._channel_closed)
        # Sends defer their commitlog writes; responses go out only after this wrote them.
        self.dispatcher.set_write_barrier(self.store.commit_deferred)
        self.servers = [
            RemotingServer(self.dispatcher, "0.0.0.0", self.listen_port),
            RemotingServer(self.dispatcher, "0.0.0.0", max(self.listen_port - 2, 0)),
        ]
        self._namesrv_conns: dict[str, OutboundConnection] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._register_wanted = anyio.Event()
        self.started_ms = clock()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The client port."""
        return self.servers[0].port

    async def __aenter__(self) -> BrokerController:
        self.topics.on_change = self.request_register
        self.topics.load()
        self.offsets.load()
        self.groups.load()
        if not self.store.load():
            raise RuntimeError(f"cannot load the message store under {self.store_root}")
        self.schedule.load()
        self.timer.load()
        self.store.start()
        self.store.add_arrival_listener(self.pull_hold.notify_message_arriving)
        started: list[RemotingServer] = []
        try:
            for server in self.servers:
                await server.start()
                started.append(server)
        except OSError:
            for server in started:
                await server.close()
            self.store.shutdown()
            raise
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._periodic_tasks)
        self._task_group.start_soon(self._register_loop)
        self.schedule.start(self._task_group)
        self.timer.start(self._task_group)
        self.transaction_check.start(self._task_group)
        await self.register_all(oneway=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.unregister_all()
        finally:
            for server in self.servers:
                await server.close()
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
                await self._task_group.__aexit__(None, None, None)
                self._task_group = None
            for conn in self._namesrv_conns.values():
                conn.close()
            self.schedule.persist()
            self.timer.shutdown()
            self.offsets.persist()
            self.groups.persist()
            self.topics.persist()
            self.store.shutdown()
            log.info("broker %s shut down", self.broker_name)

    # -- name server registration -----------------------------------------------------------

    def request_register(self) -> None:
        """Ask the registration loop to re-register soon (topic config changed)."""
        self._register_wanted.set()

    async def _register_loop(self) -> None:
        period = int(self.settings["registerNameServerPeriod"]) / 1000
        period = max(10.0, min(period, 60.0)) if period >= 1 else period
        while True:
            with anyio.move_on_after(period):
                await self._register_wanted.wait()
            changed = self._register_wanted.is_set()
            self._register_wanted = anyio.Event()
            # Java registers oneway right after a topic change and as a request periodically.
            await self.register_all(oneway=changed)

    def _register_body(self) -> bytes:
        body = RegisterBrokerBody(
            topic_config_serialize_wrapper=self.topics.build_serialize_wrapper(),
            filter_server_list=[],
        )
        return body.encode(compress=False, broker_version=MQVersion.CURRENT)

    async def register_all(self, oneway: bool = False) -> None:
        """Register with every name server; failures are logged, never fatal."""
        if not self.namesrv_addrs:
            return
        body = self._register_body()
        header = RegisterBrokerRequestHeader(
            broker_name=self.broker_name,
            broker_addr=self.broker_addr,
            cluster_name=self.cluster_name,
            ha_server_addr=f"{self.broker_ip}:{self.listen_port + 1}",
            broker_id=self.broker_id,
            compressed=False,
            body_crc32=zlib.crc32(body) & 0x7FFFFFFF,
        )
        for addr in self.namesrv_addrs:
            request = RemotingCommand.request(RequestCode.REGISTER_BROKER, header, body)
            try:
                conn = self._namesrv_connection(addr)
                if oneway:
                    await conn.oneway(request)
                else:
                    response = await conn.request(request, timeout=24.0)
                    if response.code != ResponseCode.SUCCESS:
                        raise ResponseError.for_code(response.code, response.remark)
            except (TransportError, ResponseError, ProtocolError, OSError) as exc:
                log.warning("register broker to name server %s failed: %s", addr, exc)

    async def unregister_all(self) -> None:
        """Tell every name server we are going away."""
        header = UnRegisterBrokerRequestHeader(
            broker_name=self.broker_name,
            broker_addr=self.broker_addr,
            cluster_name=self.cluster_name,
            broker_id=self.broker_id,
        )
        for addr in self.namesrv_addrs:
            try:
                with anyio.fail_after(3):
                    await self._namesrv_connection(addr).request(
                        RemotingCommand.request(RequestCode.UNREGISTER_BROKER, header), timeout=3
                    )
            except (TransportError, ProtocolError, OSError, TimeoutError) as exc:
                log.warning("unregister broker from name server %s failed: %s", addr, exc)

    def _namesrv_connection(self, addr: str) -> OutboundConnection:
        conn = self._namesrv_conns.get(addr)
        if conn is None or not conn.is_open:
            conn = OutboundConnection(addr)
            self._namesrv_conns[addr] = conn
        return conn

    # -- clients ----------------------------------------------------------------------------

    def _notify_consumer_ids_changed(self, group: str, channels: list[Channel]) -> None:
        config = self.groups.find_subscription_group_config(group)
        if config is not None and not config.notify_consumer_ids_changed_enable:
            return
        for channel in channels:
            request = RemotingCommand.request(
                RequestCode.NOTIFY_CONSUMER_IDS_CHANGED,
                NotifyConsumerIdsChangedRequestHeader(consumer_group=group),
            )
            channel.send_oneway(request)

    def _channel_closed(self, channel: Channel) -> None:
        self.producers.on_channel_closed(channel)
        self.rebalance_locks.on_channel_closed(channel, self.consumers)  # needs its client ids
        self.consumers.on_channel_closed(channel)

    async def _periodic_tasks(self) -> None:
        """Every second: persistence and client expiry (cheap when nothing changed)."""
        ticks = 0
        timeout = int(self.settings["channelExpiredTimeout"])
        while True:
            await anyio.sleep(1)
            ticks += 1
            now = self.clock()
            if ticks % 5 == 0:
                self.offsets.persist()
                self.schedule.persist()
            if ticks % 10 == 0:
                for channel in self.producers.scan_not_active(now, timeout):
                    channel.close()
                for channel in self.consumers.scan_not_active(now, timeout):
                    channel.close()
                self.groups.persist()

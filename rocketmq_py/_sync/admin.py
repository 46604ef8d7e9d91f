"""``Admin``: the blocking twin of :class:`~rocketmq_py.AsyncAdmin`."""

from __future__ import annotations

from collections.abc import Mapping

from rocketmq_py._async.admin import MAX_TIMESTAMP, TOOLS_CONSUMER_GROUP, AsyncAdmin, MessageTrack
from rocketmq_py._async.pull import PullResult
from rocketmq_py._sync._portal import SyncClient
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import (
    ClusterInfo,
    ConsumerConnection,
    ConsumeStats,
    ProducerConnection,
    TopicRouteData,
    TopicStatsTable,
)

__all__ = ["Admin"]


class Admin(SyncClient[AsyncAdmin]):
    """Admin operations, blocking; use as ``with Admin("127.0.0.1:9876") as admin:``.

    Each method runs its :class:`~rocketmq_py.AsyncAdmin` twin (see there for the details) on
    the event loop thread shared by every blocking client. Calling it from a thread that runs
    an event loop raises :class:`~rocketmq_py.exceptions.SyncInAsyncContextError`.

    Args:
        namesrv_addr: ``;``-separated name server addresses (default ``$NAMESRV_ADDR``).
        timeout: per-request timeout in seconds.
    """

    _async_twin = "AsyncAdmin"

    def __init__(self, namesrv_addr: str | None = None, *, timeout: float = 3.0) -> None:
        super().__init__(AsyncAdmin(namesrv_addr, timeout=timeout))

    @property
    def namesrv_addresses(self) -> list[str]:
        """The name server addresses this admin talks to."""
        return self._async.namesrv_addresses

    # -- routes and clusters ----------------------------------------------------------------

    def cluster_info(self) -> ClusterInfo:
        """Every cluster and broker the name server knows."""
        return self._call(self._async.cluster_info)

    def cluster_broker_addrs(self, cluster: str, *, slaves: bool = False) -> list[str]:
        """The master address of every broker of ``cluster`` (and the slaves' with ``slaves``)."""
        return self._call(self._async.cluster_broker_addrs, cluster, slaves=slaves)

    def topic_route(self, topic: str) -> TopicRouteData:
        """The route of a topic; raises TopicNotExistError when there is none."""
        return self._call(self._async.topic_route, topic)

    def topic_list(self, cluster: str | None = None) -> list[str]:
        """Every topic, or those with queues in ``cluster``."""
        return self._call(self._async.topic_list, cluster)

    def delete_topic_in_namesrv(self, topic: str, cluster: str | None = None) -> None:
        """Remove a topic's route (everywhere, or only on ``cluster``) from one name server."""
        return self._call(self._async.delete_topic_in_namesrv, topic, cluster)

    def wipe_write_perm(self, broker_name: str) -> int:
        """Stop writes to a broker on every topic; returns how many topics changed."""
        return self._call(self._async.wipe_write_perm, broker_name)

    def add_write_perm(self, broker_name: str) -> int:
        """Restore writes to a broker on every topic; returns how many topics changed."""
        return self._call(self._async.add_write_perm, broker_name)

    # -- topics -----------------------------------------------------------------------------

    def create_topic(
        self,
        topic: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        read_queue_nums: int = 8,
        write_queue_nums: int = 8,
        perm: int = 6,
        order: bool = False,
    ) -> list[str]:
        """Create or update a topic on one broker, or on every master of a cluster."""
        return self._call(
            self._async.create_topic,
            topic,
            cluster=cluster,
            broker_addr=broker_addr,
            read_queue_nums=read_queue_nums,
            write_queue_nums=write_queue_nums,
            perm=perm,
            order=order,
        )

    def delete_topic(self, topic: str, cluster: str) -> list[str]:
        """Delete a topic from every master of ``cluster``, then from every name server."""
        return self._call(self._async.delete_topic, topic, cluster)

    def topic_stats(self, topic: str, *, cluster: str | None = None) -> TopicStatsTable:
        """Min/max offset and last store time of every queue of ``topic``."""
        return self._call(self._async.topic_stats, topic, cluster=cluster)

    # -- subscription groups ----------------------------------------------------------------

    def update_subscription_group(
        self,
        group: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        consume_enable: bool = True,
        consume_from_min_enable: bool = True,
        consume_broadcast_enable: bool = True,
        consume_message_orderly: bool = False,
        retry_queue_nums: int = 1,
        retry_max_times: int = 16,
        broker_id: int = 0,
        which_broker_when_consume_slowly: int = 1,
        notify_consumer_ids_changed_enable: bool = True,
    ) -> list[str]:
        """Create or replace a subscription group on one broker or every master of a cluster."""
        return self._call(
            self._async.update_subscription_group,
            group,
            cluster=cluster,
            broker_addr=broker_addr,
            consume_enable=consume_enable,
            consume_from_min_enable=consume_from_min_enable,
            consume_broadcast_enable=consume_broadcast_enable,
            consume_message_orderly=consume_message_orderly,
            retry_queue_nums=retry_queue_nums,
            retry_max_times=retry_max_times,
            broker_id=broker_id,
            which_broker_when_consume_slowly=which_broker_when_consume_slowly,
            notify_consumer_ids_changed_enable=notify_consumer_ids_changed_enable,
        )

    def delete_subscription_group(
        self,
        group: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        remove_offset: bool = False,
    ) -> list[str]:
        """Delete a subscription group (and with ``remove_offset`` its committed offsets)."""
        return self._call(
            self._async.delete_subscription_group,
            group,
            cluster=cluster,
            broker_addr=broker_addr,
            remove_offset=remove_offset,
        )

    # -- consumers and producers ------------------------------------------------------------

    def consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        """A group's progress on every queue it consumes."""
        return self._call(self._async.consume_stats, group, topic)

    def consumer_connection(
        self, group: str, *, broker_addr: str | None = None
    ) -> ConsumerConnection:
        """A group's online consumers and subscriptions."""
        return self._call(self._async.consumer_connection, group, broker_addr=broker_addr)

    def producer_connection(self, group: str, topic: str) -> ProducerConnection:
        """A producer group's connections to the brokers of ``topic``."""
        return self._call(self._async.producer_connection, group, topic)

    def query_topic_consume_by_who(self, topic: str) -> list[str]:
        """The consumer groups of ``topic``, sorted."""
        return self._call(self._async.query_topic_consume_by_who, topic)

    # -- broker config and status -----------------------------------------------------------

    def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """A broker's runtime statistics."""
        return self._call(self._async.broker_runtime_info, broker_addr)

    def broker_config(self, broker_addr: str) -> dict[str, str]:
        """A broker's configuration, key to value as text."""
        return self._call(self._async.broker_config, broker_addr)

    def update_broker_config(
        self,
        properties: Mapping[str, str],
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        slaves: bool = False,
    ) -> list[str]:
        """Change broker settings at runtime on one broker or the brokers of a cluster."""
        return self._call(
            self._async.update_broker_config,
            properties,
            cluster=cluster,
            broker_addr=broker_addr,
            slaves=slaves,
        )

    # -- offsets and pulling ----------------------------------------------------------------

    def subscribe_queues(self, topic: str) -> list[MessageQueueRef]:
        """Every readable queue of ``topic``, sorted by broker name and queue id."""
        return self._call(self._async.subscribe_queues, topic)

    def min_offset(self, queue: MessageQueueRef) -> int:
        """The first offset still stored in ``queue``."""
        return self._call(self._async.min_offset, queue)

    def max_offset(self, queue: MessageQueueRef) -> int:
        """The offset the next message of ``queue`` will get."""
        return self._call(self._async.max_offset, queue)

    def search_offset(self, queue: MessageQueueRef, timestamp_ms: int) -> int:
        """The offset of the first message of ``queue`` stored at or after ``timestamp_ms``."""
        return self._call(self._async.search_offset, queue, timestamp_ms)

    def pull(
        self,
        queue: MessageQueueRef,
        offset: int,
        *,
        max_nums: int = 32,
        expression: str = "*",
        group: str = TOOLS_CONSUMER_GROUP,
    ) -> PullResult:
        """Pull up to ``max_nums`` messages of ``queue`` from ``offset`` (nothing committed)."""
        return self._call(
            self._async.pull,
            queue,
            offset,
            max_nums=max_nums,
            expression=expression,
            group=group,
        )

    # -- messages ---------------------------------------------------------------------------

    def view_message(self, msg_id: str, *, topic: str | None = None) -> MessageView:
        """The message with this offset message id (or UNIQ_KEY in ``topic``)."""
        return self._call(self._async.view_message, msg_id, topic=topic)

    def query_message(
        self,
        topic: str,
        key: str,
        *,
        max_num: int = 64,
        begin_ms: int = 0,
        end_ms: int = MAX_TIMESTAMP,
        unique_key: bool = False,
    ) -> list[MessageView]:
        """Messages of ``topic`` whose keys include ``key``, stored in ``[begin_ms, end_ms]``."""
        return self._call(
            self._async.query_message,
            topic,
            key,
            max_num=max_num,
            begin_ms=begin_ms,
            end_ms=end_ms,
            unique_key=unique_key,
        )

    def message_track(self, message: MessageView) -> list[MessageTrack]:
        """What each consumer group of the message's topic did with it."""
        return self._call(self._async.message_track, message)

    # -- KV config --------------------------------------------------------------------------

    def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """Set a name server KV config entry."""
        return self._call(self._async.put_kv_config, namespace, key, value)

    def get_kv_config(self, namespace: str, key: str) -> str | None:
        """A KV config entry, or ``None`` when absent."""
        return self._call(self._async.get_kv_config, namespace, key)

    def get_kv_list(self, namespace: str) -> dict[str, str]:
        """Every entry of a KV namespace (empty when none)."""
        return self._call(self._async.get_kv_list, namespace)

    def delete_kv_config(self, namespace: str, key: str) -> None:
        """Remove a KV config entry (no error when absent)."""
        return self._call(self._async.delete_kv_config, namespace, key)

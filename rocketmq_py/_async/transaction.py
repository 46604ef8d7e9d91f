"""``AsyncTransactionProducer``: transactional messages, Java's ``TransactionMQProducer``.

A transaction takes three steps (``protocol.md`` section 7):

1. The *half* message is sent like any other, marked ``TRAN_MSG=true`` and ``PGROUP=<group>``
   with sysFlag PREPARED; the broker parks it where no consumer sees it.
2. The application does its local work and decides.
3. END_TRANSACTION, sent oneway as Java does, tells the broker COMMIT (the message is
   delivered, after its delay level if it has one), ROLLBACK (it is dropped) or UNKNOWN
   (nothing happens yet).

A half message still unresolved after the broker's ``transactionTimeOut`` is asked about: the
broker sends CHECK_TRANSACTION_STATE to one live producer of the group, picked from the
heartbeats, so any process of the group can answer, including one started after the sender
died. The ``checker`` decides and the answer goes back as END_TRANSACTION on the connection
the question came in on. Checks run ``check_concurrency`` at a time; up to
``check_queue_size`` more wait, and any beyond that are dropped with a warning (the broker asks
again at its next check round), as Java's bounded ``checkRequestQueue`` does.

How one transaction may end is in ``transaction_handle``.

END_TRANSACTION is oneway: when it cannot be sent, the failure is logged and reported to the
trace hooks (``end_transaction.failed``), not raised, because the check-back resolves the
transaction anyway.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from rocketmq_py._async.namespace import wrap
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.transaction_handle import (
    WIRE_STATE,
    AsyncTransaction,
    LocalTransaction,
    TransactionChecker,
    TransactionSendResult,
    TransactionState,
    as_state,
    transaction_send_result,
)
from rocketmq_py._async.user_code import call_user
from rocketmq_py._trace import TraceHook, trace
from rocketmq_py._transport import ClientConnection, RequestHandler
from rocketmq_py.exceptions import ConfigError, ResponseError, RocketMQError
from rocketmq_py.message import Message, MessageView, SendResult, SendStatus
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.transaction import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)
from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    decode_offset_msg_id,
    decode_record,
)

__all__ = ["AsyncTransactionProducer"]

log = logging.getLogger("rocketmq_py.transaction")
MC = MessageConst

#: A half message stored with one of these statuses is rolled back at once, as in Java.
_NOT_OK = {
    SendStatus.FLUSH_DISK_TIMEOUT: ResponseCode.FLUSH_DISK_TIMEOUT,
    SendStatus.FLUSH_SLAVE_TIMEOUT: ResponseCode.FLUSH_SLAVE_TIMEOUT,
    SendStatus.SLAVE_NOT_AVAILABLE: ResponseCode.SLAVE_NOT_AVAILABLE,
}


class AsyncTransactionProducer(AsyncProducer):
    """Sends transactional messages; also sends plain ones like :class:`~rocketmq_py.AsyncProducer`.

    Use as ``async with AsyncTransactionProducer("PG", addr, checker=check) as p:``, then
    ``async with p.transaction(message) as tx:`` (commit on success, rollback on an exception)
    or Java's ``await p.send_in_transaction(message, local_tx)``.

    Args:
        group: producer group; every process of the group must be able to answer checks.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        checker: answers the broker's check-backs (required): called with the half message as
            a :class:`~rocketmq_py.MessageView`, returns a :class:`TransactionState`. An
            exception counts as UNKNOWN (and the broker asks again later). Sync checkers run
            in worker threads.
        check_concurrency: checks answered at once (Java's ``checkThreadPoolMaxSize`` is 1;
            4 lets a slow lookup not hold up the others while keeping a broker's burst of
            checks from hammering the application's database).
        check_queue_size: checks that may wait beyond those (Java's ``checkRequestHoldMax``
            2000); more are dropped with a warning.
        topics: topics whose brokers are told about this producer at start (Java 5's
            ``topics``), so a process that has sent nothing yet, for example one replacing a
            crashed sender, is picked for check-backs at once.
        send_timeout, retries, compress_over, max_message_size, default_topic_queue_nums,
        hooks, namespace: as for :class:`~rocketmq_py.AsyncProducer`. Hooks also see
            ``end_transaction`` and ``check`` operations (see ``rocketmq_py._trace``).

    Raises:
        ConfigError: no ``checker``, or a bound below 1.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        checker: TransactionChecker | None = None,
        check_concurrency: int = 4,
        check_queue_size: int = 2000,
        topics: Sequence[str] = (),
        send_timeout: float = 3.0,
        retries: int = 2,
        compress_over: int = 4096,
        max_message_size: int = 4 * 1024 * 1024,
        default_topic_queue_nums: int = 4,
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
    ) -> None:
        if checker is None or not callable(checker):
            raise ConfigError(
                "checker",
                checker,
                "a transactional producer needs a checker to answer the broker's "
                "CHECK_TRANSACTION_STATE (Java requires a TransactionListener)",
            )
        if check_concurrency < 1:
            raise ConfigError("check_concurrency", check_concurrency, "must be at least 1")
        if check_queue_size < 1:
            raise ConfigError("check_queue_size", check_queue_size, "must be at least 1")
        super().__init__(
            group,
            namesrv_addr,
            send_timeout=send_timeout,
            retries=retries,
            compress_over=compress_over,
            max_message_size=max_message_size,
            default_topic_queue_nums=default_topic_queue_nums,
            hooks=hooks,
            namespace=namespace,
        )
        self.checker = checker
        self.check_concurrency = check_concurrency
        self.check_queue_size = check_queue_size
        self.topics = tuple(topics)
        self._checks: MemoryObjectSendStream[_CheckRequest] | None = None
        self._check_limiter: anyio.CapacityLimiter | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncTransactionProducer:
        self._check_limiter = anyio.CapacityLimiter(self.check_concurrency)
        await super().__aenter__()
        send, receive = anyio.create_memory_object_stream[_CheckRequest](self.check_queue_size)
        try:
            assert self._task_group is not None
            with receive:
                for _ in range(self.check_concurrency):
                    self._task_group.start_soon(self._check_worker, receive.clone())
            self._checks = send
            await self._announce()
        except BaseException:
            send.close()
            await super().__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        checks, self._checks = self._checks, None
        if checks is not None:
            checks.close()  # waiting checks are dropped: the broker asks again
        await super().__aexit__(*exc_info)

    async def _announce(self) -> None:
        """Heartbeat the brokers of ``topics`` now, so check-backs can reach this process."""
        for topic in self.topics:
            try:  # the publish route: TBW102's brokers for a topic not created yet
                _, route = await self._publish_queues(wrap(self.namespace, topic))
            except RocketMQError as exc:
                log.warning("no route for transaction topic %s at start: %s", topic, exc)
                continue
            for broker in route.broker_datas:
                address = broker.broker_addrs.get(0)
                if address and address not in self._brokers.seen:
                    self._brokers.seen.add(address)
                    await self._brokers.heartbeat(address)

    # -- sending -----------------------------------------------------------------------------

    async def _send_half(self, message: Message) -> AsyncTransaction:
        if not isinstance(message, Message):
            raise ConfigError(
                "message",
                type(message).__name__,
                "a transaction carries exactly one Message; batches cannot be transactional",
            )
        out = self._prepare(message)
        out.properties[MC.PROPERTY_TRANSACTION_PREPARED] = "true"
        out.properties[MC.PROPERTY_PRODUCER_GROUP] = self.group
        out.sys_flag |= MessageSysFlag.TRANSACTION_PREPARED_TYPE
        result = await self._send_prepared(out, None)
        if not result.transaction_id:  # brokers set it to the UNIQ_KEY; some leave it out
            result = replace(result, transaction_id=result.msg_id)
        return AsyncTransaction(self, message, result)

    async def begin(self, message: Message) -> AsyncTransaction:
        """Send ``message`` as a half message and return the open transaction.

        The caller must end it (``commit()``/``rollback()``); one left open is resolved by the
        checker. Prefer :meth:`transaction`, which ends it for you.

        ``message.delay_level`` is kept: the committed message is delivered after its delay.
        (Java's client drops it because Apache brokers would delay the half message itself;
        this project's broker parks the half message undelayed and delays the commit.)

        Raises:
            ConfigError: ``message`` is not one Message (batches cannot be transactional).
            ResponseError: the half message was stored with FLUSH_DISK_TIMEOUT,
                FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE; it was rolled back.
            RocketMQError: the send failed as :meth:`send` fails.
        """
        tx = await self._send_half(message)
        status = tx.send_result.status
        if status is not SendStatus.SEND_OK:
            await tx.rollback()
            raise ResponseError.for_code(
                _NOT_OK[status], f"half message stored with {status.value}; rolled back"
            )
        return tx

    @asynccontextmanager
    async def transaction(self, message: Message) -> AsyncIterator[AsyncTransaction]:
        """``async with producer.transaction(message) as tx:`` runs a local transaction.

        The half message is sent on entry (see :meth:`begin`). Leaving the block normally
        commits; an exception rolls back and propagates. ``await tx.commit()`` or
        ``await tx.rollback()`` inside the block decides early, and then nothing more is sent.
        Cancellation, ``KeyboardInterrupt`` or a dying process leave the transaction UNKNOWN:
        the local work may or may not have finished, so the checker decides.
        """
        tx = await self.begin(message)
        try:
            yield tx
        except Exception as exc:
            if tx.state is None:
                await tx.end(
                    TransactionState.ROLLBACK,
                    remark=f"executeLocalTransactionBranch exception: {exc!r}",
                )
            raise
        if tx.state is None:
            await tx.commit()

    async def send_in_transaction(
        self, message: Message, local_transaction: LocalTransaction
    ) -> TransactionSendResult:
        """Java's ``sendMessageInTransaction``: half message, local transaction, END_TRANSACTION.

        ``local_transaction(message, send_result)`` (sync ones run in a worker thread) returns
        the state to send; ``None`` or an exception (logged, not raised, as in Java) send
        UNKNOWN, leaving the decision to the checker. A half message stored with a
        FLUSH_*/SLAVE_NOT_AVAILABLE status is rolled back without running it.

        Raises:
            ConfigError: ``message`` is not one Message.
            RocketMQError: the half message could not be sent.
        """
        tx = await self._send_half(message)
        state, remark = await self._run_local(local_transaction, message, tx.send_result)
        await tx.end(state, remark=remark)
        return transaction_send_result(tx.send_result, state)

    async def _run_local(
        self, local_transaction: LocalTransaction, message: Message, result: SendResult
    ) -> tuple[TransactionState, str | None]:
        if result.status is not SendStatus.SEND_OK:
            return TransactionState.ROLLBACK, None
        try:
            value = await call_user(local_transaction, message, result)
            state = as_state(value, "local_transaction")
        except Exception as exc:
            log.exception(
                "local transaction failed for message %s of %s; sending UNKNOWN",
                result.msg_id,
                message.topic,
            )
            return TransactionState.UNKNOWN, f"executeLocalTransactionBranch exception: {exc!r}"
        if state is not TransactionState.COMMIT:
            log.info("local transaction of %s returned %s", result.msg_id, state.value)
        return state, None

    async def _end_transaction(
        self, tx: AsyncTransaction, state: TransactionState, remark: str | None
    ) -> None:
        result = tx.send_result
        _, _, commit_log_offset = decode_offset_msg_id(result.offset_msg_id)
        header = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=commit_log_offset,
            commit_or_rollback=WIRE_STATE[state],
            msg_id=result.msg_id,
            from_transaction_check=False,
            transaction_id=tx.transaction_id,
            topic=wrap(self.namespace, tx.message.topic),
            bname=result.queue.broker_name,
        )
        info = self._end_info(header, state, tx.message.topic, result.queue)
        await self._send_end(None, header, remark, info)

    def _end_info(
        self, header: EndTransactionRequestHeader, state: TransactionState, topic: str, queue: Any
    ) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "topic": topic,
            "group": self.group,
            "client_id": self._client.client_id,
            "msg_ids": [header.msg_id],
            "message_count": 1,
            "queue": queue,
            "transaction_id": header.transaction_id,
            "state": state,
            "from_transaction_check": bool(header.from_transaction_check),
        }

    async def _send_end(
        self,
        conn: ClientConnection | None,
        header: EndTransactionRequestHeader,
        remark: str | None,
        info: dict[str, Any],
    ) -> None:
        """END_TRANSACTION oneway, on ``conn`` (a check's connection) or to the half message's
        broker; failures are logged, since the check-back resolves the transaction anyway."""
        request = RemotingCommand.request(RequestCode.END_TRANSACTION, header)
        request.remark = remark
        try:
            async with trace("end_transaction", self._hooks, info):
                if conn is None:
                    address = await self._end_address(info)
                    info["server_address"] = address
                    await self._pool.oneway(address, request)
                else:
                    info["server_address"] = conn.address
                    await conn.oneway(request)
        except RocketMQError as exc:
            log.warning(
                "END_TRANSACTION %s of %s could not be sent (%s); the broker will ask the checker",
                info["state"].value,
                header.msg_id,
                exc,
            )

    async def _end_address(self, info: dict[str, Any]) -> str:
        broker_name = info["queue"].broker_name
        address = self._client.master_address(broker_name)
        if address is None:
            route = await self._client.route(wrap(self.namespace, info["topic"]), refresh=True)
            address = self._broker_address(route, broker_name)
        return address

    # -- check-back --------------------------------------------------------------------------

    def _server_handler(self) -> RequestHandler | None:
        return self._on_server_request

    async def _on_server_request(
        self, conn: ClientConnection, request: RemotingCommand
    ) -> RemotingCommand | None:
        """Queue a CHECK_TRANSACTION_STATE (oneway, so nothing is answered here)."""
        if request.code != RequestCode.CHECK_TRANSACTION_STATE:
            return None
        try:
            header = request.read_header(CheckTransactionStateRequestHeader)
            record, _ = decode_record(request.body or b"")
        except RocketMQError as exc:
            log.warning("malformed CHECK_TRANSACTION_STATE from %s: %s", conn.address, exc)
            return None
        checks = self._checks
        try:
            if checks is None:
                raise anyio.ClosedResourceError
            checks.send_nowait(_CheckRequest(conn, header, record))
        except anyio.WouldBlock:
            log.warning(
                "%d transaction checks are waiting; dropped the check of %s from %s "
                "(the broker asks again)",
                self.check_queue_size,
                header.msg_id,
                conn.address,
            )
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.info("producer stopping; ignored the check of %s", header.msg_id)
        return None

    async def _check_worker(self, receive: MemoryObjectReceiveStream[_CheckRequest]) -> None:
        with receive:
            async for item in receive:
                await self._answer_check(item)

    async def _answer_check(self, item: _CheckRequest) -> None:
        """Run the checker on one half message and answer on the connection it came from."""
        header, record = item.header, item.record
        view = MessageView.from_record(record, header.bname or "", self.namespace)
        unique = record.properties.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) or record.msg_id
        transaction_id = (
            header.transaction_id or record.properties.get(MC.PROPERTY_TRANSACTION_ID) or unique
        )
        info: dict[str, Any] = {
            "namespace": self.namespace,
            "topic": view.topic,
            "group": self.group,
            "client_id": self._client.client_id,
            "msg_ids": [unique],
            "message_count": 1,
            "queue": view.queue,
            "transaction_id": transaction_id,
            "message": view,
            "server_address": item.conn.address,
        }
        state, remark = TransactionState.UNKNOWN, None
        try:
            async with trace("check", self._hooks, info):
                value = await call_user(self.checker, view, limiter=self._check_limiter)
                state = as_state(value, "checker")
                info["state"] = state
        except Exception as exc:
            log.exception("the transaction checker failed on %s; answering UNKNOWN", unique)
            remark = f"checkLocalTransactionState Exception: {exc!r}"
        if state is not TransactionState.COMMIT:
            log.warning("when broker check, client answers %s for %s", state.value, unique)
        end = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=header.tran_state_table_offset,
            commit_log_offset=header.commit_log_offset,
            commit_or_rollback=WIRE_STATE[state],
            msg_id=unique,
            from_transaction_check=True,
            transaction_id=transaction_id,
            topic=header.topic or record.topic,
            bname=header.bname,
        )
        await self._send_end(
            item.conn, end, remark, self._end_info(end, state, view.topic, view.queue)
        )


@dataclass(slots=True)
class _CheckRequest:
    """One CHECK_TRANSACTION_STATE waiting for the checker."""

    conn: ClientConnection
    header: CheckTransactionStateRequestHeader
    record: MessageRecord

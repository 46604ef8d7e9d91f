"""Transaction check-back: ask producers about half messages nobody resolved.

Apache's ``TransactionalMessageCheckService`` + ``TransactionalMessageServiceImpl.check`` +
``DefaultTransactionalMessageCheckListener``, one pass every ``transactionCheckInterval`` ms:

Rule 1 (progress). The pass walks the half queue from the check progress (the offset of group
``CID_RMQ_SYS_TRANS`` on ``RMQ_SYS_TRANS_HALF_TOPIC``) and reads OP records from the OP
progress. A half offset named by an OP record is resolved and passed over. The progress only
moves past an offset once it is resolved, copied further up the queue, or discarded, so a
crash at any point loses nothing: the next pass (or the restarted broker) reads the same
queues again.

Rule 2 (patience). A half message stored after the pass began, or younger than
``transactionTimeOut`` (born-time based), ends the pass: later ones are younger still. One with
``CHECK_IMMUNITY_TIME_IN_SECONDS`` is instead copied forward (``TRAN_PREPARED_QUEUE_OFFSET`` =
its first offset) until its immunity (at least ``transactionTimeOut``) is over, unless an OP
record for that first offset was read.

Rule 3 (checking). An old unresolved half message is first looked up in every OP record not
read yet; if still unresolved it is appended again with ``TRANSACTION_CHECK_TIMES`` + 1 and
CHECK_TRANSACTION_STATE (39) goes oneway to one live channel of its producer group, with the
copy's offsets, so the producer's answer resolves the copy. With no producer online the check
is counted all the same (as in Java): a group that stays away for ``transactionCheckMax``
rounds loses its pending transactions to rule 4.

Rule 4 (giving up). A half message already checked ``transactionCheckMax`` times, or older than
``fileReservedTime`` hours, is stored in ``TRANS_CHECK_MAX_TIME_TOPIC`` and, beyond Java, gets
an OP record so that every view of the queues agrees it is resolved.

Memory is bounded: OP records are read 32 at a time, at most ``MAX_OP_ENTRIES`` unmatched ones
are held per pass (past that, rule 3 checks without reading further; a needless check of an
already committed message creates no duplicate, see ``broker.processors.end_transaction``),
and a pass stops after 60 s like Java's, yielding to the event loop as it goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from broker.transaction.half import (
    HALF_TOPIC,
    OP_TOPIC,
    check_times,
    discard_record,
    immunity_ms,
    op_record,
    renew_half,
)
from broker.transaction.queues import TransactionQueues
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.transaction import CheckTransactionStateRequestHeader
from rocketmq_py.protocol.message import MessageConst, MessageRecord, PermName, encode_record

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["MAX_OP_ENTRIES", "CheckStats", "TransactionalMessageCheckService"]

log = logging.getLogger("broker.transaction")

MC = MessageConst
#: Java's ``MAX_PROCESS_TIME_LIMIT``: one pass gives up after this long.
MAX_PROCESS_MS = 60_000
#: OP records read at a time (Java's ``OP_MSG_PULL_NUMS``).
OP_BATCH = 32
#: Most unmatched OP entries one pass keeps in memory.
MAX_OP_ENTRIES = 100_000
_YIELD_EVERY = 64


@dataclass(slots=True)
class CheckStats:
    """What the service did since the broker started, and what its last pass saw.

    Attributes:
        passes: passes run.
        checks: CHECK_TRANSACTION_STATE rounds (half messages re-appended to be checked).
        checks_without_producer: of those, rounds with no live channel of the producer group.
        discarded: half messages moved to ``TRANS_CHECK_MAX_TIME_TOPIC``.
        duplicate_commits: commits of an already committed transaction that stored no second
            final message (counted by ``END_TRANSACTION``).
        pending: unresolved half messages at or after the progress at the end of the last pass.
        half_max_offset: the half queue's max offset then (new ones since count as pending).
    """

    passes: int = 0
    checks: int = 0
    checks_without_producer: int = 0
    discarded: int = 0
    duplicate_commits: int = 0
    pending: int = 0
    half_max_offset: int = 0


class _OpView:
    """The OP records read during one pass, matched against half offsets (Java's
    ``removeMap`` / ``opMsgMap`` / ``doneOpOffset``)."""

    def __init__(self, queues: TransactionQueues, op_offset: int, min_half: int) -> None:
        self.queues = queues
        self.base = op_offset
        self.next = op_offset
        self.min_half = min_half
        self.remove: dict[int, int] = {}  # half offset -> OP offset naming it
        self.members: dict[int, set[int]] = {}  # OP offset -> its half offsets not yet met
        self.done: set[int] = set()
        self.exhausted = False
        self.truncated = False

    def fill(self) -> None:
        """Read the next batch of OP records (sets ``exhausted`` at the end or the cap)."""
        if len(self.remove) >= MAX_OP_ENTRIES:
            self.exhausted = self.truncated = True
            return
        entries, nxt = self.queues.ops(self.next, OP_BATCH)
        if not entries:
            if nxt != self.next:  # below the queue's minimum or past its end: go there
                if self.next == self.base:
                    self.base = nxt
                self.next = nxt
            else:
                self.exhausted = True
            return
        for entry in entries:
            halves = {h for h in entry.half_offsets if h >= self.min_half}
            if not halves:
                self.done.add(entry.op_offset)
                continue
            self.members[entry.op_offset] = halves
            for half in halves:
                earlier = self.remove.get(half)
                if earlier is not None:  # resolved twice: the earlier OP is used up as well
                    self._met(earlier, half)
                self.remove[half] = entry.op_offset
        self.next = nxt

    def resolve(self, half_offset: int) -> bool:
        """Whether an OP record read so far resolves ``half_offset`` (consumed if so)."""
        op = self.remove.pop(half_offset, None)
        if op is None:
            return False
        self._met(op, half_offset)
        return True

    def _met(self, op: int, half_offset: int) -> None:
        halves = self.members.get(op)
        if halves is None:
            return
        halves.discard(half_offset)
        if not halves:
            del self.members[op]
            self.done.add(op)

    def progress(self) -> int:
        """The new OP progress: past the unbroken run of used-up OP records."""
        offset = self.base
        while offset in self.done:
            offset += 1
        return offset

    def resolved_between(self, low: int, high: int) -> int:
        """How many read OP entries name a half offset in ``[low, high)``."""
        return sum(1 for h in self.remove if low <= h < high)


class TransactionalMessageCheckService:
    """Checks back unresolved half messages every ``transactionCheckInterval`` ms."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        self.queues = TransactionQueues(controller.store, controller.offsets, controller.broker_ip)
        self.stats = CheckStats()
        self._host = (controller.broker_ip, controller.listen_port)

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the periodic passes in ``task_group``."""
        task_group.start_soon(self._loop)

    async def _loop(self) -> None:
        while True:
            await anyio.sleep(int(self.c.settings["transactionCheckInterval"]) / 1000)
            try:
                await self.check()
            except Exception:  # as Java: a failed pass is logged, the next one runs anyway
                log.exception("transaction check pass failed")

    def runtime_info(self) -> dict[str, str]:
        """The ``transaction*`` keys of GET_BROKER_RUNTIME_INFO.

        ``transactionHalfPending`` is the count of the last pass plus the half messages stored
        since (before the first pass: every half message past the progress), so it may count
        a transaction resolved since then until the next pass.
        """
        q = self.queues
        stats = self.stats
        half_offset = q.progress(HALF_TOPIC)
        half_max = q.max_offset(HALF_TOPIC)
        if stats.passes:
            pending = stats.pending + max(0, half_max - stats.half_max_offset)
        else:
            pending = max(0, half_max - half_offset)
        return {
            "transactionHalfPending": str(pending),
            "transactionHalfOffset": str(half_offset),
            "transactionHalfMaxOffset": str(half_max),
            "transactionOpOffset": str(q.progress(OP_TOPIC)),
            "transactionOpMaxOffset": str(q.max_offset(OP_TOPIC)),
            "transactionCheckPasses": str(stats.passes),
            "transactionCheckedTimes": str(stats.checks),
            "transactionCheckNoProducer": str(stats.checks_without_producer),
            "transactionCheckDiscarded": str(stats.discarded),
            "transactionDuplicateCommits": str(stats.duplicate_commits),
        }

    # -- one pass ---------------------------------------------------------------------------

    async def check(self) -> None:
        """One pass over the half queue (see the module docstring for the rules)."""
        c = self.c
        if c.broker_id != 0 or str(c.settings["brokerRole"]) == "SLAVE":
            return  # the master checks; a slave only replicates
        timeout = int(c.settings["transactionTimeOut"])
        check_max = int(c.settings["transactionCheckMax"])
        reserved_ms = int(c.settings["fileReservedTime"]) * 3_600_000
        q = self.queues
        start = c.clock()
        half_offset = q.progress(HALF_TOPIC)
        op_offset = q.progress(OP_TOPIC)
        ops = _OpView(q, op_offset, half_offset)
        ops.fill()
        i = half_offset
        steps = 0
        while c.clock() - start <= MAX_PROCESS_MS:
            steps += 1
            if steps % _YIELD_EVERY == 0:
                await anyio.sleep(0)
            if ops.resolve(i):
                i += 1
                continue
            read = q.half(i)
            half = read.record
            if half is None:
                if not read.moved:
                    break
                i = read.next_offset
                continue
            if half.store_timestamp >= start:
                break  # appended during this pass (a copy made by it): the next pass
            age = c.clock() - half.born_timestamp
            immunity_text = half.properties.get(MC.PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS)
            immunity = immunity_ms(immunity_text, timeout)
            if immunity_text is not None:
                if age <= immunity:
                    if not self._immune(half, ops):
                        break  # its copy could not be made: the next pass tries again
                    i += 1
                    continue
            elif 0 <= age <= immunity:
                break
            if not ops.exhausted:
                ops.fill()  # its OP record may be among those not read yet
                continue
            times = check_times(half)
            if (times is not None and times >= check_max) or age > reserved_ms:
                self._discard(half)
                i += 1
                continue
            if not self._check_back(half, 1 if times is None else times + 1):
                break  # the store refused the copy: the next pass retries from here
            i += 1
        self._finish(ops, half_offset, op_offset, i)

    def _finish(self, ops: _OpView, half_offset: int, op_offset: int, new_offset: int) -> None:
        q = self.queues
        if new_offset != half_offset:
            q.set_progress(HALF_TOPIC, new_offset)
        new_op = ops.progress()
        if new_op != op_offset:
            q.set_progress(OP_TOPIC, new_op)
        if new_offset != half_offset or new_op != op_offset:
            # Written now rather than by the 5 s offset flush: a broker killed right after a
            # pass would otherwise check everything this pass checked once more.
            self.c.offsets.persist()
        while not ops.exhausted:  # for the pending count; bounded like the pass
            ops.fill()
        half_max = q.max_offset(HALF_TOPIC)
        stats = self.stats
        stats.passes += 1
        stats.half_max_offset = half_max
        stats.pending = max(0, half_max - new_offset - ops.resolved_between(new_offset, half_max))
        if ops.truncated:
            log.warning(
                "transaction check: more than %d unmatched OP records; some checks may be needless",
                MAX_OP_ENTRIES,
            )
        log.info(
            "transaction check: half offset %d -> %d (max %d), op offset %d -> %d, pending %d",
            half_offset,
            new_offset,
            half_max,
            op_offset,
            new_op,
            stats.pending,
        )

    # -- actions ----------------------------------------------------------------------------

    def _immune(self, half: MessageRecord, ops: _OpView) -> bool:
        """Java ``checkPrepareQueueOffset``: True when ``half`` may be passed over while
        immune (resolved through its first offset, or copied forward)."""
        text = half.properties.get(MC.PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET)
        if text is None:
            first_offset = str(half.queue_offset)
            return self._append_copy(
                half, {MC.PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET: first_offset}
            )
        try:
            first = int(text)
        except ValueError:
            first = -1
        if first == -1:
            return False
        if ops.resolve(first):
            return True
        return self._append_copy(half, {})

    def _append_copy(self, half: MessageRecord, extra: dict[str, str]) -> bool:
        copy = renew_half(half)
        copy.properties.update(extra)
        result = self.c.store.put_message(copy)
        if not result.ok:
            log.error(
                "re-appending immune half message %d failed: %s",
                half.queue_offset,
                result.status.name,
            )
        return result.ok

    def _check_back(self, half: MessageRecord, times: int) -> bool:
        """Append ``half`` again with its new check count and ask its producer about it."""
        c = self.c
        half.properties[MC.PROPERTY_TRANSACTION_CHECK_TIMES] = str(times)
        half.raw_properties = None
        result = c.store.put_message(renew_half(half))
        if not result.ok:
            log.error(
                "re-appending half message %d for a check failed: %s",
                half.queue_offset,
                result.status.name,
            )
            return False
        self.stats.checks += 1
        group = half.properties.get(MC.PROPERTY_PRODUCER_GROUP, "")
        unique = half.properties.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        log.info(
            "check transaction: real topic %s, uniqKey %s, half offset %d -> %d",
            half.properties.get(MC.PROPERTY_REAL_TOPIC),
            unique,
            half.queue_offset,
            result.queue_offset,
        )
        channel = c.producers.available_channel(group) if group else None
        if channel is None:
            self.stats.checks_without_producer += 1
            log.warning("Check transaction failed, channel is null. groupId=%s", group)
            return True
        header = CheckTransactionStateRequestHeader(
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=result.wrote_offset,
            msg_id=unique,
            transaction_id=unique,
            offset_msg_id=result.msg_id,
            topic=HALF_TOPIC,
            bname=c.broker_name,
        )
        body = encode_record(self._check_body(half, result.queue_offset, result.wrote_offset))
        request = RemotingCommand.request(RequestCode.CHECK_TRANSACTION_STATE, header, body)
        channel.send_oneway(request)
        return True

    @staticmethod
    def _check_body(
        half: MessageRecord, queue_offset: int, commit_log_offset: int
    ) -> MessageRecord:
        """The half message as the producer must see it (Java ``sendCheckMessage``): its real
        topic and queue, the copy's offsets."""
        real_qid = half.properties.get(MC.PROPERTY_REAL_QUEUE_ID, "0")
        return MessageRecord(
            topic=half.properties.get(MC.PROPERTY_REAL_TOPIC, half.topic),
            body=half.body,
            flag=half.flag,
            properties=dict(half.properties),
            queue_id=int(real_qid) if real_qid.isdigit() else 0,
            queue_offset=queue_offset,
            commit_log_offset=commit_log_offset,
            sys_flag=half.sys_flag,
            born_timestamp=half.born_timestamp,
            born_host=half.born_host,
            store_timestamp=half.store_timestamp,
            store_host=half.store_host,
            reconsume_times=half.reconsume_times,
        )

    def _discard(self, half: MessageRecord) -> None:
        """Give up on ``half``: keep it in ``TRANS_CHECK_MAX_TIME_TOPIC``, mark it resolved."""
        c = self.c
        c.topics.create_topic_of_tran_check_max_time(1, PermName.PERM_READ | PermName.PERM_WRITE)
        result = c.store.put_message(discard_record(half))
        if result.ok:
            self.stats.discarded += 1
            log.error(
                "half message %d (real topic %s, uniqKey %s) was checked too many times or is "
                "too old; moved to TRANS_CHECK_MAX_TIME_TOPIC",
                half.queue_offset,
                half.properties.get(MC.PROPERTY_REAL_TOPIC),
                half.properties.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
            )
        else:
            log.error(
                "putting half message %d into TRANS_CHECK_MAX_TIME_TOPIC failed: %s",
                half.queue_offset,
                result.status.name,
            )
        op = c.store.put_message(op_record(half, self._host, c.clock()))
        if not op.ok:
            log.error(
                "writing the OP record of discarded half message %d failed", half.queue_offset
            )

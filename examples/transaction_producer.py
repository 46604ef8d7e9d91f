"""Transactional messages: publish "order paid" only if the payment really went through.

Each order's message is sent as a half message first (consumers cannot see it yet); the
local transaction (here: updating a dict standing in for a database) then decides whether the
broker delivers it (COMMIT) or drops it (ROLLBACK). When the producer cannot tell, the broker
later asks the ``checker``, which looks the order up. ``python examples/transaction_producer.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from rocketmq_py import (
    AsyncLitePullConsumer,
    AsyncTransactionProducer,
    Message,
    MessageView,
    SendResult,
    TransactionState,
)
from rocketmq_py.testing import LocalCluster

TOPIC = "TxExampleOrders"
PAYMENTS: dict[str, str] = {}  # the application's "database": order -> payment state


class OutOfStockError(Exception):
    """The local transaction failed."""


def check_payment(message: MessageView) -> TransactionState:
    """The broker asks about a half message nobody decided: look the order up."""
    state = PAYMENTS.get(message.keys or "")
    print(f"checker asked about {message.keys}: payment {state}")
    if state == "paid":
        return TransactionState.COMMIT
    return TransactionState.ROLLBACK if state == "failed" else TransactionState.UNKNOWN


def pay(order: str, ok: bool) -> Callable[[Message, SendResult], TransactionState]:
    """A Java-style local transaction for ``send_in_transaction``."""

    def local_transaction(message: Message, half: SendResult) -> TransactionState:
        PAYMENTS[order] = "paid" if ok else "failed"
        return TransactionState.COMMIT if ok else TransactionState.ROLLBACK

    return local_transaction


def pay_but_crash_before_deciding(message: Message, half: SendResult) -> TransactionState:
    PAYMENTS["order-5"] = "paid"
    return TransactionState.UNKNOWN  # as if the process died here: the checker decides


async def main(namesrv_addr: str) -> None:
    async with AsyncTransactionProducer(
        "TxExampleProducer", namesrv_addr, checker=check_payment
    ) as producer:
        # Java style: send_in_transaction(message, local_transaction).
        result = await producer.send_in_transaction(
            Message(TOPIC, "order 1 paid", keys="order-1"), pay("order-1", ok=True)
        )
        print(f"order-1: {result.local_transaction_state.value} ({result.msg_id})")
        result = await producer.send_in_transaction(
            Message(TOPIC, "order 2 paid", keys="order-2"), pay("order-2", ok=False)
        )
        print(f"order-2: {result.local_transaction_state.value} ({result.msg_id})")

        # Context manager: commit when the block succeeds, roll back when it raises.
        async with producer.transaction(Message(TOPIC, "order 3 paid", keys="order-3")) as tx:
            PAYMENTS["order-3"] = "paid"
        print(f"order-3: {tx.state.value if tx.state else None} ({tx.transaction_id})")
        try:
            async with producer.transaction(Message(TOPIC, "order 4 paid", keys="order-4")):
                raise OutOfStockError("order-4")
        except OutOfStockError:
            print("order-4: ROLLBACK (out of stock)")

        # Undecided: the broker checks back within a few seconds and the checker commits.
        await producer.send_in_transaction(
            Message(TOPIC, "order 5 paid", keys="order-5"), pay_but_crash_before_deciding
        )
        print("order-5: UNKNOWN, waiting for the broker's check")

        expected = {"order 1 paid", "order 3 paid", "order 5 paid"}
        seen: list[str] = []
        async with AsyncLitePullConsumer(
            "TxExampleConsumer", namesrv_addr, consume_from_where="first"
        ) as consumer:
            consumer.subscribe(TOPIC)
            with anyio.fail_after(60):
                while not expected <= set(seen):
                    for message in await consumer.poll(timeout=1):
                        print(f"consumer saw: {message.body.decode()} ({message.keys})")
                        seen.append(message.body.decode())
    assert sorted(seen) == sorted(expected), seen  # orders 2 and 4 never arrive
    print("transaction producer OK")


if __name__ == "__main__":
    # Check-backs every second (Apache's default is every 60 s, after 6 s) for a quick demo.
    with LocalCluster(
        echo=True, broker_config={"transactionCheckInterval": "1000", "transactionTimeOut": "1000"}
    ) as cluster:
        anyio.run(main, cluster.namesrv_addr)

"""Decorator app: two subscribers and a publisher, run against a local name server and broker.

``bill`` takes ``Created`` orders as JSON dicts and publishes an invoice (its
return value) to ``Invoices``; ``mail`` takes the invoices. ``make_order`` is a plain
publisher: awaiting it publishes the order it returns. The same app runs from the command line
with ``rocketmq-py run examples.decorator_app:app --namesrv HOST:PORT``.

Everything runs on loopback with a temporary HOME and store. ``python examples/decorator_app.py``.
"""

from __future__ import annotations

from typing import Any

import anyio

from integrations.app import RocketMQApp
from rocketmq_py import AsyncAdmin, MessageView
from rocketmq_py.testing import LocalCluster

ORDERS, INVOICES = "DecoratorOrders", "DecoratorInvoices"
COUNT = 3

app = RocketMQApp(producer_group="decorator-example")
mailed: list[dict[str, Any]] = []


@app.on_startup
def starting() -> None:
    print("startup hook: app starting")


@app.subscriber(ORDERS, group="decorator-billing", tags="Created", consume_from="first")
@app.publisher(INVOICES, tags="Invoice")
async def bill(order: dict[str, Any], message: MessageView) -> dict[str, Any]:
    print(f"bill got order {order} (msg {message.msg_id}, tags {message.tags})")
    return {"order": order["id"], "amount": round(order["total"] * 1.2, 2)}


@app.subscriber(INVOICES, group="decorator-mail", tags="Invoice", consume_from="first")
def mail(invoice: dict[str, Any]) -> None:  # a sync handler runs in a worker thread
    print(f"mail got invoice {invoice}")
    mailed.append(invoice)


@app.publisher(ORDERS, tags="Created")
async def make_order(n: int) -> dict[str, Any]:
    return {"id": n, "total": 10.0 * n}


async def main(cluster: LocalCluster) -> None:
    app.namesrv_addr = cluster.namesrv_addr
    async with AsyncAdmin(cluster.namesrv_addr) as admin:  # topics first: no 20 s rebalance wait
        for topic in (ORDERS, INVOICES):
            await admin.create_topic(topic, broker_addr=cluster.broker_addr)
        for topic in (ORDERS, INVOICES):
            await admin.wait_for_route(topic, timeout=20)
    async with app:
        for n in range(1, COUNT + 1):
            await make_order(n)
        await app.publish(ORDERS, {"id": 99, "total": 1}, tags="Draft")  # bill skips Draft
        with anyio.fail_after(60):
            while len(mailed) < COUNT:
                await anyio.sleep(0.05)
    assert sorted(i["order"] for i in mailed) == list(range(1, COUNT + 1))
    print(f"decorator app OK: {COUNT} orders billed and mailed")


if __name__ == "__main__":
    with LocalCluster() as local:
        anyio.run(main, local)

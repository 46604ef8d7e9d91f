"""A small RocketMQApp for the CLI and TestBroker tests (``rocketmq-py run`` loads it)."""

from __future__ import annotations

import os

from pydantic import BaseModel

from integrations.app import Retry, RocketMQApp
from rocketmq_py import MessageView

#: Topics and groups can be renamed per test run through the environment, so runs never share.
SUFFIX = os.environ.get("SAMPLE_APP_SUFFIX", "")
ORDERS = f"SampleOrders{SUFFIX}"
INVOICES = f"SampleInvoices{SUFFIX}"

app = RocketMQApp(producer_group=f"sample-producer{SUFFIX}")
not_an_app = object()


class Order(BaseModel):
    """An order as JSON."""

    id: int
    total: float


@app.subscriber(ORDERS, group=f"sample-billing{SUFFIX}", tags="Created || Paid")
@app.publisher(INVOICES, tags="Invoice")
async def bill(order: Order) -> dict[str, float]:
    """Bill an order: publish an invoice."""
    if order.total < 0:
        raise Retry(reason="negative total")
    return {"order": order.id, "amount": order.total}


@app.subscriber(ORDERS, group=f"sample-audit{SUFFIX}", broadcasting=True)
def audit(body: bytes, message: MessageView) -> None:
    """Every order, every tag, in every process (sync handler)."""
    print(f"audit {message.tags} {body!r}", flush=True)


@app.subscriber(INVOICES, group=f"sample-mail{SUFFIX}", tags="Invoice")
async def mail(invoice: dict) -> None:  # type: ignore[type-arg]
    """Mail an invoice."""
    print(f"mail {invoice}", flush=True)

"""Decorator-based RocketMQ applications: ``@app.subscriber``, ``@app.publisher``, a runner CLI.

::

    from integrations.app import RocketMQApp, Retry

    app = RocketMQApp(producer_group="orders-app")      # name server: $NAMESRV_ADDR or --namesrv

    @app.subscriber("Orders", group="billing", tags="Created || Paid", max_reconsume_times=5)
    @app.publisher("Invoices")
    async def bill(order: dict) -> dict:                # payload decoded from JSON
        if order.get("total") is None:
            raise Retry(delay=30)                       # or any exception: retried, then DLQ
        return {"order": order["id"], "amount": order["total"]}

    @app.on_startup
    async def connect() -> None: ...

Run it with ``rocketmq-py run mymodule:app --namesrv 127.0.0.1:9876`` (see
:mod:`integrations.app.cli`), or inside a program with ``async with app:`` / ``await app.run()``.
Test it in memory with :class:`integrations.app.testing.TestBroker`, or against real servers
with the pytest plugin's ``rocketmq_cluster`` fixture (:mod:`integrations.pytest_plugin`).

Why this lives under ``integrations/`` (STYLE.md's layering): it is a framework on top of the
SDK, not part of it. It uses only names in ``rocketmq_py.__all__`` (``AsyncPushConsumer``,
``AsyncProducer``, ``Message``, ``MessageView`` ...), one push consumer per group and one
producer, so the SDK stays a plain client library and never imports it. It needs no extra:
its only dependency is the SDK's own (anyio); pydantic payloads work when pydantic is installed.

Modules: :mod:`._app` (the application and its lifecycle), :mod:`._handlers` (registrations
and the one delivery path), :mod:`._payload` (decoding by annotation, encoding results),
:mod:`._retry` (``Retry`` and what a retry delay means on RocketMQ), :mod:`.testing`
(``TestBroker``), :mod:`.cli` (``rocketmq-py run``).
"""

from integrations.app._app import PublisherDecorator, PublishTarget, RocketMQApp
from integrations.app._handlers import Delivery, Subscriber
from integrations.app._payload import PayloadDecodeError
from integrations.app._retry import Retry

__all__ = [
    "Delivery",
    "PayloadDecodeError",
    "PublishTarget",
    "PublisherDecorator",
    "Retry",
    "RocketMQApp",
    "Subscriber",
]

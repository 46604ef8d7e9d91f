"""Request processors of the broker: one module per request family."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker._server import Dispatcher
from broker.processors.admin import AdminProcessor
from broker.processors.client import ClientProcessor
from broker.processors.consumer_manage import ConsumerManageProcessor
from broker.processors.end_transaction import EndTransactionProcessor
from broker.processors.lock import LockProcessor
from broker.processors.pull import PullProcessor
from broker.processors.query import QueryProcessor
from broker.processors.send import SendProcessor
from broker.processors.send_back import SendBackProcessor

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["install_processors"]


def install_processors(controller: BrokerController, dispatcher: Dispatcher) -> None:
    """Register every broker request handler on ``dispatcher``."""
    for processor in (
        SendProcessor(controller),
        SendBackProcessor(controller),
        PullProcessor(controller),
        ClientProcessor(controller),
        ConsumerManageProcessor(controller),
        QueryProcessor(controller),
        EndTransactionProcessor(controller),
        AdminProcessor(controller),
        LockProcessor(controller),
    ):
        processor.install(dispatcher)

"""Admin requests of mqadmin and the dashboard (Apache's ``AdminBrokerProcessor``).

One processor per request family, each in its own module:

* ``admin_topics``: topics (17, 21, 215, 305) and subscription groups (200, 201, 207).
* ``admin_broker``: broker config and runtime info (25, 26, 28).
* ``admin_stats``: statistics (202, 208), connections (203, 204) and who consumes what (300).

:class:`AdminProcessor` installs them all. Answers follow what a 4.9.8 broker sends
(``protocol.md`` 3.10-3.11, and the captured frames in ``shared/captures/05_mqadmin.jsonl``):
the same codes, remarks, extFields key sets and body shapes, including fastjson's MessageQueue
*object* map keys in TopicStatsTable and ConsumeStats. The two deliberate differences are told
in ``admin_topics`` (UPDATE_AND_CREATE_TOPIC) and ``admin_stats`` (GET_CONSUME_STATS).

Everything here is synchronous: the tables are in memory and the store answers offset and
timestamp lookups without blocking for long.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker._server import Dispatcher
from broker.processors.admin_broker import (
    CONFIG_BLACK_LIST,
    BrokerAdminProcessor,
    human_readable_bytes,
)
from broker.processors.admin_stats import StatsAdminProcessor
from broker.processors.admin_topics import TopicAdminProcessor

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["CONFIG_BLACK_LIST", "AdminProcessor", "human_readable_bytes"]


class AdminProcessor:
    """Handlers of the admin request codes: the three family processors.

    Args:
        controller: the broker; its settings, store and managers are read on every request.

    Attributes:
        topics: topics and subscription groups.
        broker: broker config and runtime info.
        stats: offset statistics, connections and who consumes what.
    """

    def __init__(self, controller: BrokerController) -> None:
        self.topics = TopicAdminProcessor(controller)
        self.broker = BrokerAdminProcessor(controller)
        self.stats = StatsAdminProcessor(controller)

    def install(self, dispatcher: Dispatcher) -> None:
        """Register every admin handler."""
        for family in (self.topics, self.broker, self.stats):
            family.install(dispatcher)

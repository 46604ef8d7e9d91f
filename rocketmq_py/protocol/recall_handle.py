"""Recall handles of 5.x timer messages (Apache ``RecallMessageHandle.HandleV1``).

A broker answers a timer-message send with a handle in ``SendMessageResponseHeader``'s
``recallHandle``; RECALL_MESSAGE (370) hands it back to cancel the message before it is due.
The handle is ``"v1 <topic> <brokerName> <timestamp> <messageId>"`` in URL-safe base64 (with
padding, as ``java.util.Base64.getUrlEncoder``), where the timestamp is the message's slot time
(``TIMER_OUT_MS``) plus one and the message id is its ``UNIQ_KEY``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

__all__ = ["RecallHandle"]

_VERSION_1 = "v1"


@dataclass(frozen=True, slots=True)
class RecallHandle:
    """A decoded version-1 recall handle.

    Attributes:
        topic: the real topic of the timer message.
        broker_name: the broker holding it.
        timestamp: ``TIMER_OUT_MS + 1`` of the message, as text (Java keeps it a string).
        message_id: the message's ``UNIQ_KEY``.
    """

    topic: str
    broker_name: str
    timestamp: str
    message_id: str

    def encode(self) -> str:
        """The handle as it travels on the wire."""
        raw = " ".join((_VERSION_1, self.topic, self.broker_name, self.timestamp, self.message_id))
        return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii")

    @classmethod
    def decode(cls, handle: str | None) -> RecallHandle:
        """Parse a handle.

        Raises:
            ValueError: ``"recall handle is invalid"`` (Apache's remark) for anything that is
                not a version-1 handle.
        """
        if not handle:
            raise ValueError("recall handle is invalid")
        try:
            raw = base64.urlsafe_b64decode(handle.encode("ascii")).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise ValueError("recall handle is invalid") from None
        items = raw.split(" ")
        if len(items) < 5 or items[0] != _VERSION_1:
            raise ValueError("recall handle is invalid")
        return cls(items[1], items[2], items[3], items[4])

    @property
    def timestamp_ms(self) -> int:
        """The timestamp as an int, -1 when it is not a number (Java's ``toLong(s, -1)``)."""
        try:
            return int(self.timestamp)
        except ValueError:
            return -1

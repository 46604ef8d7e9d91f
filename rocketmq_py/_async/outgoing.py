"""``Outgoing``: one send (or batch) as the producer puts it on the wire."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Outgoing"]


@dataclass(slots=True)
class Outgoing:
    """One send (or batch) as it goes on the wire, kept across retries."""

    topic: str
    body: bytes
    properties: dict[str, str]
    sys_flag: int
    flag: int
    msg_ids: list[str]
    batch: bool = False

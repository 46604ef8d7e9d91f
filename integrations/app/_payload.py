"""Payloads: a handler's first-parameter annotation picks the decoder; return values encode.

Decoding (chosen once, when the handler is decorated, so a bad annotation fails at import):

=========================  =================================================================
annotation                 the handler gets
=========================  =================================================================
none, or ``MessageView``   the :class:`~rocketmq_py.MessageView` itself
``bytes``                  the body
``str``                    the body decoded as strict UTF-8
``dict``, ``list`` (also   ``json.loads`` of the body, which must be an object / an array
``dict[str, int]`` ...)    (the item types are not checked; use a pydantic model for that)
``typing.Any``             ``json.loads`` of the body, any JSON value
a pydantic ``BaseModel``   ``Model.model_validate_json(body)`` (pydantic only when installed)
=========================  =================================================================

Anything a decoder raises becomes :class:`PayloadDecodeError`, which the application treats
like a failed handler (the message is retried, then dead-lettered) after logging it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import typing
from collections.abc import Callable
from typing import Any

from rocketmq_py import ConfigError, Message, MessageView, RocketMQError

__all__ = ["Decoder", "PayloadDecodeError", "decoder_for", "encode_payload", "wants_message"]

Decoder = Callable[[MessageView], Any]


class PayloadDecodeError(RocketMQError):
    """A message body could not be decoded into the type the handler asked for."""


def _pydantic_base() -> type | None:
    """``pydantic.BaseModel`` if pydantic is already imported (a model implies it is)."""
    module = sys.modules.get("pydantic")
    return getattr(module, "BaseModel", None) if module is not None else None


def _is_pydantic_model(annotation: object) -> bool:
    base = _pydantic_base()
    return base is not None and isinstance(annotation, type) and issubclass(annotation, base)


def _raw(message: MessageView) -> MessageView:
    return message


def _body(message: MessageView) -> bytes:
    return message.body


def _text(message: MessageView) -> str:
    return message.body.decode("utf-8")


def _json_of(kind: type | None) -> Decoder:
    def decode(message: MessageView) -> Any:
        value = json.loads(message.body)
        if kind is not None and not isinstance(value, kind):
            raise ValueError(f"expected a JSON {kind.__name__}, got {type(value).__name__}")
        return value

    return decode


def _model_of(model: Any) -> Decoder:
    def decode(message: MessageView) -> Any:
        return model.model_validate_json(message.body)

    return decode


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _hints(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # a forward reference that does not resolve
        raise ConfigError(
            "handler",
            name,
            f"its annotations cannot be resolved ({exc}); define the types at module level",
        ) from exc


def decoder_for(fn: Callable[..., Any], name: str) -> Decoder:
    """The decoder for ``fn``'s first parameter (see the module table).

    Raises:
        ConfigError: ``fn`` takes no positional parameter, or asks for a type with no decoder.
    """
    params = _parameters(fn)
    if not params:
        raise ConfigError("handler", name, "must take the payload as its first parameter")
    annotation = _hints(fn, name).get(params[0].name, inspect.Parameter.empty)
    if annotation is inspect.Parameter.empty or annotation is MessageView:
        return _raw
    if annotation is bytes:
        return _body
    if annotation is str:
        return _text
    if annotation is Any:
        return _json_of(None)
    origin = typing.get_origin(annotation) or annotation
    if origin in (dict, list):
        return _json_of(origin)
    if _is_pydantic_model(annotation):
        return _model_of(annotation)
    raise ConfigError(
        "handler",
        name,
        f"cannot decode a payload into {annotation!r}; annotate the first parameter with "
        "bytes, str, dict, list, typing.Any, MessageView or a pydantic model",
    )


def wants_message(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes a second positional parameter (it receives the MessageView)."""
    return len(_parameters(fn)) >= 2


def encode_payload(value: object) -> bytes:
    """The message body for a published payload or a publisher's return value.

    ``bytes`` as is, ``str`` as UTF-8, a pydantic model as its JSON, a dataclass instance as
    the JSON of ``dataclasses.asdict``, anything else as JSON.

    Raises:
        ConfigError: the value is not JSON-serialisable.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if _is_pydantic_model(type(value)):
        dumped: str = value.model_dump_json()  # type: ignore[attr-defined]
        return dumped.encode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            "payload", type(value).__name__, f"cannot be encoded as a message body: {exc}"
        ) from exc


def as_message(topic: str, value: object, *, tags: str | None = None) -> Message:
    """``value`` (a payload, or a whole :class:`~rocketmq_py.Message`) as a message to ``topic``.

    A returned ``Message`` keeps its tags, keys and properties; its topic becomes ``topic``.
    """
    if isinstance(value, Message):
        return dataclasses.replace(value, topic=topic, tags=value.tags or tags)
    return Message(topic, encode_payload(value), tags=tags)

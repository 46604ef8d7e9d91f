"""Response codes repeated in rocketmq_py.exceptions match the protocol's ResponseCode."""

from __future__ import annotations

import pytest

from rocketmq_py import exceptions as exc
from rocketmq_py.protocol.codes import ResponseCode


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (ResponseCode.SYSTEM_ERROR, exc.ServerSystemError),
        (ResponseCode.SYSTEM_BUSY, exc.SystemBusyError),
        (ResponseCode.MESSAGE_ILLEGAL, exc.MessageIllegalError),
        (ResponseCode.SERVICE_NOT_AVAILABLE, exc.ServiceNotAvailableError),
        (ResponseCode.NO_PERMISSION, exc.NoPermissionError),
        (ResponseCode.TOPIC_NOT_EXIST, exc.TopicNotExistError),
        (ResponseCode.ILLEGAL_OPERATION, exc.IllegalOperationError),
    ],
)
def test_each_code_maps_to_its_class(code: ResponseCode, cls: type[exc.ResponseError]) -> None:
    error = exc.ResponseError.for_code(code, "why")
    assert type(error) is cls
    assert error.code == code
    assert code.name in (cls.__doc__ or "")  # the docstring names the code it stands for


def test_unmapped_codes_stay_generic() -> None:
    error = exc.ResponseError.for_code(ResponseCode.SUBSCRIPTION_NOT_EXIST, "no sub")
    assert type(error) is exc.ResponseError
    assert str(error) == f"response code {int(ResponseCode.SUBSCRIPTION_NOT_EXIST)}: no sub"

"""pytest plugin: a real RocketMQ name server and broker for your tests.

Installed with rocketmq-py (entry point ``pytest11``: ``rocketmq_py``), so the fixtures are
there in any project that has rocketmq-py installed; nothing to add to ``conftest.py``::

    async def test_orders(rocketmq_namesrv_addr: str) -> None:
        async with AsyncProducer("PG", rocketmq_namesrv_addr) as producer:
            await producer.send(Message("Orders", b"hello"))

Fixtures:

* ``rocketmq_cluster`` (**session** scope): a :class:`rocketmq_py.testing.LocalCluster`, i.e.
  ``mqnamesrv`` and ``mqbroker`` subprocesses on free loopback ports, with HOME and the store
  in a pytest temporary directory (kept like other ``tmp_path`` directories, so the servers'
  logs can be read after a failure). Started the first time a test asks for it and stopped at
  the end of the session: one cluster for every test, so give each test its own topics and
  groups (e.g. with ``uuid``). Subprocesses work with any event loop (asyncio, trio) and
  with sync code.
* ``rocketmq_namesrv_addr``: ``"127.0.0.1:<port>"`` of that cluster's name server.
* ``rocketmq_broker_config`` (session scope): extra ``broker.conf`` keys for the cluster,
  ``{}`` by default. Override it in your ``conftest.py``, e.g. to make retries fast::

      @pytest.fixture(scope="session")
      def rocketmq_broker_config() -> dict[str, str]:
          return {"messageDelayLevel": "1s 1s 1s 1s 1s 1s"}

Loading the plugin costs nothing when no test uses it: this module imports only pytest, and
no server starts unless a test requests ``rocketmq_cluster`` (directly or through
``rocketmq_namesrv_addr``). Disable it with ``-p no:rocketmq_py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rocketmq_py.testing import LocalCluster

__all__ = ["rocketmq_broker_config", "rocketmq_cluster", "rocketmq_namesrv_addr"]


@pytest.fixture(scope="session")
def rocketmq_broker_config() -> dict[str, str]:
    """Extra ``broker.conf`` keys for ``rocketmq_cluster`` (override to change them)."""
    return {}


@pytest.fixture(scope="session")
def rocketmq_cluster(
    tmp_path_factory: pytest.TempPathFactory, rocketmq_broker_config: dict[str, str]
) -> Iterator[LocalCluster]:
    """A name server and a broker for the whole session (see the module documentation)."""
    # Imported here, so loading an unused plugin imports nothing of rocketmq-py.
    from rocketmq_py.testing import LocalCluster  # noqa: PLC0415

    home = tmp_path_factory.mktemp("rocketmq-cluster")
    with LocalCluster(home, broker_config=rocketmq_broker_config) as cluster:
        yield cluster


@pytest.fixture
def rocketmq_namesrv_addr(rocketmq_cluster: LocalCluster) -> str:
    """``host:port`` of ``rocketmq_cluster``'s name server."""
    return rocketmq_cluster.namesrv_addr

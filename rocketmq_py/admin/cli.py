"""``mqadmin``: Apache's admin tool, sub-command for sub-command where implemented.

Usage mirrors Apache's ``bin/mqadmin``: ``mqadmin <subCommand> -n host:port [options]``.
User mistakes (bad arguments, unreachable servers, error answers) end with a one-line message
and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio
import anyio.to_thread

from rocketmq_py._async.admin import MAX_TIMESTAMP, TOOLS_CONSUMER_GROUP, AsyncAdmin
from rocketmq_py.admin import _broker_commands as brokers
from rocketmq_py.admin import _client_commands as clients
from rocketmq_py.admin import _message_commands as messages
from rocketmq_py.admin import _topic_commands as topics
from rocketmq_py.admin._common import Command, UserError
from rocketmq_py.exceptions import RocketMQError

__all__ = ["main"]


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports errors in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="mqadmin",
        description="RocketMQ administration (Apache mqadmin sub-commands).",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="<subCommand>", parser_class=_ArgumentParser
    )

    def add(name: str, help_text: str, func: Command) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "-n",
            "--namesrvAddr",
            metavar="ADDR",
            help="name server list, e.g. '127.0.0.1:9876;10.0.0.2:9876' (default $NAMESRV_ADDR)",
        )
        p.set_defaults(func=func)
        return p

    p = add("clusterList", "List clusters and their brokers", topics.cluster_list)
    p.add_argument("-c", "--clusterName", help="only this cluster")
    p = add("topicList", "List every topic (or those of one cluster)", topics.topic_list)
    p.add_argument("-c", "--clusterName", help="only topics with queues in this cluster")
    p = add("topicRoute", "Show the route of a topic", topics.topic_route)
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-l", "--list", action="store_true", help="print as a table")
    p = add(
        "updateTopic",
        "Create or update a topic on a broker or a whole cluster",
        topics.update_topic,
    )
    p.add_argument("-t", "--topic", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="one broker, host:port")
    target.add_argument("-c", "--clusterName", help="every master of a cluster")
    p.add_argument("-r", "--readQueueNums", type=int, default=8)
    p.add_argument("-w", "--writeQueueNums", type=int, default=8)
    p.add_argument("-p", "--perm", type=int, default=6, help="2 = W, 4 = R, 6 = RW")
    p.add_argument(
        "-o", "--order", type=lambda v: v.lower() == "true", default=False, help="true|false"
    )
    p = add("updateKvConfig", "Create or update a name server KV config entry", topics.update_kv)
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key", required=True)
    p.add_argument("-v", "--value", required=True)
    p = add("getKvConfig", "Show a KV config entry, or a whole namespace without -k", topics.get_kv)
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key")
    p = add("deleteKvConfig", "Delete a name server KV config entry", topics.delete_kv)
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key", required=True)
    p = add(
        "wipeWritePerm",
        "Wipe write permission of a broker in the name server",
        topics.wipe_write_perm,
    )
    p.add_argument("-b", "--brokerName", required=True)
    p = add(
        "addWritePerm",
        "Restore write permission of a broker in the name server",
        topics.add_write_perm,
    )
    p.add_argument("-b", "--brokerName", required=True)
    p = add("topicStatus", "Examine topic status info", topics.topic_status)
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-c", "--clusterName", help="only the brokers of this cluster")
    p = add("deleteTopic", "Delete topic from broker and NameServer.", topics.delete_topic)
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-c", "--clusterName", required=True, help="delete topic from which cluster")
    p = add("updateSubGroup", "Update or create subscription group.", topics.update_sub_group)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="create subscription group to which broker")
    target.add_argument("-c", "--clusterName", help="create subscription group to which cluster")
    p.add_argument("-g", "--groupName", required=True, help="consumer group name")
    p.add_argument("-s", "--consumeEnable", metavar="BOOL", help="consume enable (true)")
    p.add_argument("-m", "--consumeFromMinEnable", metavar="BOOL", help="from min offset (false)")
    p.add_argument("-d", "--consumeBroadcastEnable", metavar="BOOL", help="broadcast (false)")
    p.add_argument(
        "-o", "--consumeMessageOrderly", metavar="BOOL", help="consume message orderly (false)"
    )
    p.add_argument("-q", "--retryQueueNums", type=int, default=1, help="retry queue nums (1)")
    p.add_argument("-r", "--retryMaxTimes", type=int, default=16, help="retry max times (16)")
    p.add_argument("-i", "--brokerId", type=int, default=0, help="consumer from which broker id")
    p.add_argument(
        "-w",
        "--whichBrokerWhenConsumeSlowly",
        type=int,
        default=1,
        help="which broker id when consume slowly (1)",
    )
    p.add_argument(
        "-a", "--notifyConsumerIdsChanged", metavar="BOOL", help="notify consumerId changed (true)"
    )
    p = add("deleteSubGroup", "Delete subscription group from broker.", topics.delete_sub_group)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="delete subscription group from which broker")
    target.add_argument("-c", "--clusterName", help="delete subscription group from which cluster")
    p.add_argument("-g", "--groupName", required=True, help="subscription group name")
    p.add_argument("-r", "--removeOffset", metavar="BOOL", help="remove offset (false)")
    p = add("consumerProgress", "Query consumers's progress, speed", clients.consumer_progress)
    p.add_argument("-g", "--groupName", help="consumer group name (default: every group)")
    p.add_argument("-t", "--topicName", help="topic name (with -g)")
    p = add(
        "consumerConnection",
        "Query consumer's socket connection, client version and subscription.",
        clients.consumer_connection,
    )
    p.add_argument("-g", "--consumerGroup", required=True, help="consumer group name")
    p.add_argument("-b", "--brokerAddr", help="broker address")
    p = add(
        "producerConnection",
        "Query producer's socket connection and client version.",
        clients.producer_connection,
    )
    p.add_argument("-g", "--producerGroup", required=True, help="producer group name")
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p = add(
        "timerStatus",
        "Show timer (scheduled) messages of brokers: pending per topic, fired, recalled, "
        "due lag and how far the wheel is behind (from GET_BROKER_RUNTIME_INFO's timer* keys).",
        brokers.timer_status,
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="one broker, host:port")
    target.add_argument("-c", "--clusterName", help="every master of a cluster")
    p = add("brokerStatus", "Fetch broker runtime status data.", brokers.broker_status)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="Broker address")
    target.add_argument("-c", "--clusterName", help="which cluster")
    p = add(
        "transactionStatus",
        "Show the transactional (half) messages of each broker.",
        brokers.transaction_status,
    )
    p.description = (
        "Show transactional (half) messages per broker: half messages pending a decision, "
        "the check-back progress and max offsets of the half and OP queues, check-backs sent, "
        "those with no producer online, messages given up (TRANS_CHECK_MAX_TIME_TOPIC) and "
        "repeated commits that stored no duplicate."
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="one broker, host:port")
    target.add_argument("-c", "--clusterName", help="every master of a cluster")
    p = add(
        "getBrokerConfig",
        "Get broker config by cluster or special broker.",
        brokers.get_broker_config,
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="get which broker")
    target.add_argument("-c", "--clusterName", help="get which cluster")
    p = add("updateBrokerConfig", "Update broker's config.", brokers.update_broker_config)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--brokerAddr", help="update which broker")
    target.add_argument("-c", "--clusterName", help="update which cluster")
    p.add_argument(
        "-a",
        "--updateAllBroker",
        nargs="?",
        const="true",
        metavar="BOOL",
        help="with -c, update the slaves too",
    )
    p.add_argument("-k", "--key", required=True, help="config key")
    p.add_argument("-v", "--value", required=True, help="config value")
    p = add("queryMsgById", "Query Message by Id.", messages.query_msg_by_id)
    p.add_argument("-i", "--msgId", required=True, help="message id(s), comma separated")
    p.add_argument("-t", "--topic", help="topic name (to look the id up as a UNIQ_KEY)")
    p.add_argument("-f", "--bodyFormat", metavar="CHARSET", help="print the body in this charset")
    p = add("queryMsgByKey", "Query Message by Key.", messages.query_msg_by_key)
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-k", "--msgKey", required=True, help="Message Key")
    p.add_argument("-b", "--beginTimestamp", type=int, default=0, help="Begin timestamp(ms)")
    p.add_argument(
        "-e", "--endTimestamp", type=int, default=MAX_TIMESTAMP, help="End timestamp(ms)"
    )
    p.add_argument("-m", "--maxNum", type=int, default=64, help="most messages returned (64)")
    p = add("queryMsgByOffset", "Query Message by offset.", messages.query_msg_by_offset)
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-b", "--brokerName", required=True, help="Broker Name")
    p.add_argument("-i", "--queueId", type=int, required=True, help="Queue Id")
    p.add_argument("-o", "--offset", type=int, required=True, help="Queue Offset")
    p.add_argument("-f", "--bodyFormat", metavar="CHARSET", help="print the body in this charset")
    p = add("sendMessage", "Send a message.", messages.send_message)
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-p", "--body", required=True, help="UTF-8 string format of the message body")
    p.add_argument("-k", "--key", help="Message keys")
    p.add_argument("-c", "--tags", help="Message tags")
    p.add_argument("-b", "--broker", help="Send message to target broker")
    p.add_argument("-i", "--qid", type=int, help="Send message to target queue")
    p = add("consumeMessage", "Consume message.", messages.consume_message)
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-b", "--brokerName", help="Broker name")
    p.add_argument("-i", "--queueId", type=int, help="Queue Id")
    p.add_argument("-o", "--offset", type=int, help="Queue offset")
    p.add_argument(
        "-g", "--consumerGroup", default=TOOLS_CONSUMER_GROUP, help="Consumer group name"
    )
    p.add_argument(
        "-s", "--beginTimestamp", help="Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"
    )
    p.add_argument(
        "-e", "--endTimestamp", help="End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"
    )
    p.add_argument("-c", "--MessageNumber", type=int, help="Number of message to be consumed (128)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mqadmin``; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    func: Command = args.func
    failures: list[Exception] = []

    async def run() -> None:
        async with AsyncAdmin(args.namesrvAddr) as admin:
            # Caught inside the block: leaving it with an exception makes the connection pool's
            # task group wrap the error in an ExceptionGroup, which would print a traceback.
            try:
                await func(admin, args)
            except (RocketMQError, UserError, OSError) as exc:  # OSError: the body file
                failures.append(exc)

    try:
        anyio.run(run)
    except (RocketMQError, UserError) as exc:  # raised while entering, e.g. no address
        failures.append(exc)
    except KeyboardInterrupt:
        return 130
    if failures:
        # Server remarks can span lines (Java appends a FAQ link): keep the error on one line.
        message = " ".join(part.strip() for part in str(failures[0]).splitlines() if part.strip())
        print(f"mqadmin {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env node
/*
 * Drive ali-ons (pure JavaScript RocketMQ client) for tests/compat/test_sdk_interop.py.
 * One JSON object per stdout line.
 *
 *   NODE_PATH=/tmp/peers/node-ali-ons/node_modules node ali_ons_client.js consume \
 *       --namesrv H:P --topic T --group G [--expect N] [--linger S] [--timeout S] [--broadcast]
 *   NODE_PATH=... node ali_ons_client.js produce --namesrv H:P < messages.json
 *
 * consume: a push consumer with consumeFromWhere CONSUME_FROM_FIRST_OFFSET. Prints
 *   {"event":"ready"} once started, then {"event":"message", topic, tags, keys, body_b64,
 *   properties, msg_id, queue_id, queue_offset} per delivery (ali-ons exposes every property;
 *   its msgId is the broker's offset id). Exits 0 after --expect distinct messages (by UNIQ_KEY,
 *   else msgId), 1 at --timeout, 2 on a client error.
 * produce: reads a JSON list of {topic, tags, keys, body_b64, properties} from stdin and sends
 *   each with producer.send; prints {"event":"sent", index, status, msg_id, queue_id, offset}.
 *   The topic must exist: ali-ons does not publish through TBW102.
 */
'use strict';

const path = require('path');

function load() {
  try {
    return require('ali-ons');
  } catch (e) {
    return require(path.join('/tmp/peers/node-ali-ons/node_modules/ali-ons'));
  }
}
const { Producer, Consumer, Message } = load();

const argv = process.argv.slice(2);
const command = argv[0];
function arg(name, def) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
}
if (![ 'consume', 'produce' ].includes(command) || !arg('--namesrv')) {
  console.error('usage: ali_ons_client.js consume|produce --namesrv HOST:PORT [options] (see the header)');
  process.exit(2);
}

const emit = obj => process.stdout.write(JSON.stringify(obj) + '\n');
const logger = {
  info() {}, debug() {}, warn() {},
  error: (...a) => console.error('[ali-ons]', ...a),
};
const httpclient = { request: async () => { throw new Error('no http name-server lookup'); } };
const common = { httpclient, nameSrv: arg('--namesrv').split(';'), logger };

function withTimeout(promise, seconds) {
  let timer;
  const t = new Promise(resolve => { timer = setTimeout(() => resolve('timeout'), seconds * 1000); });
  return Promise.race([ promise, t ]).finally(() => clearTimeout(timer));
}

async function consume() {
  const expect = parseInt(arg('--expect', '0'), 10);
  const linger = parseFloat(arg('--linger', '0'));
  const timeout = parseFloat(arg('--timeout', '60'));
  const seen = new Set();
  let resolveDone;
  const done = new Promise(r => { resolveDone = r; });
  const consumer = new Consumer(Object.assign({}, common, {
    consumerGroup: arg('--group'),
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    isBroadcast: argv.includes('--broadcast'),
  }));
  consumer.on('error', err => console.error('[ali-ons] consumer error:', err.message));
  consumer.subscribe(arg('--topic'), arg('--expression', '*'), async msg => {
    const props = msg.properties || {};
    const properties = {};
    for (const k of Object.keys(props)) {
      if (props[k] !== null && props[k] !== undefined) properties[k] = String(props[k]);
    }
    emit({
      event: 'message',
      topic: msg.topic,
      tags: msg.tags,
      keys: msg.keys,
      body_b64: (msg.body || Buffer.alloc(0)).toString('base64'),
      properties,
      msg_id: msg.msgId,
      queue_id: msg.queueId,
      queue_offset: msg.queueOffset,
      reconsume_times: msg.reconsumeTimes,
    });
    seen.add(properties.UNIQ_KEY || msg.msgId);
    if (expect && seen.size >= expect) resolveDone(true);
  });
  await consumer.ready();
  emit({ event: 'ready' });
  const ok = (await withTimeout(done, timeout)) === true;
  if (ok && linger) await new Promise(r => setTimeout(r, linger * 1000));
  emit({ event: 'done', ok, distinct: seen.size });
  await withTimeout(consumer.close(), 5);
  return ok ? 0 : 1;
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function produce() {
  const specs = JSON.parse(await readStdin());
  const producer = new Producer(Object.assign({}, common, {
    producerGroup: arg('--group', `PG_alions_${process.pid}`),
  }));
  producer.on('error', err => console.error('[ali-ons] producer error:', err.message));
  await producer.ready();
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    const msg = new Message(s.topic, s.tags || null, Buffer.from(s.body_b64, 'base64'));
    if (!s.tags) delete msg.properties.TAGS; // else it goes out as the string "null"
    if (s.keys) msg.keys = s.keys.split(' ');
    Object.assign(msg.properties, s.properties || {});
    const r = await producer.send(msg);
    emit({
      event: 'sent',
      index: i,
      status: r.sendStatus,
      msg_id: r.msgId,
      queue_id: r.messageQueue && r.messageQueue.queueId,
      offset: r.queueOffset,
    });
  }
  await withTimeout(producer.close(), 5);
  return 0;
}

(command === 'consume' ? consume() : produce()).then(
  code => process.exit(code),
  err => {
    emit({ event: 'error', error: String(err && err.stack || err) });
    process.exit(2);
  }
);

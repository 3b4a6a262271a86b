#!/usr/bin/python3
"""backend.py - a roomcastd backend worker in Python, with redis-py (Debian: python3-redis)
and msgpack-python (python3-msgpack).

It does what examples/backend.js does, as one worker of the same consumer group (the
two may run side by side): it reads the client events roomcastd adds to its Redis
Stream and acts on them with nothing but Redis commands:
  echo(*args, ack)        answers the ack with the same arguments, bytes included
  subscribe(room, ack)    joins the sender's socket to <room>, answers "ok"
  say(room, text)         emits said({from, text}) to everyone in <room> (text may be bytes)
  whisper(user, text)     emits whisper({from, text}) to every device of <user>
A connect record with an ack comes from a namespace with `auth backend`: it is
accepted when its cookie header (backend_headers cookie) holds session=<name>, with
user <name>, else refused with "not signed in" (a real app looks the session up).
Binary: a client's bytes arrive as fields bin0, bin1, ... (raw bytes, so the stream
is read undecoded) and stand in `args` as {"_placeholder":true,"num":N}; the worker
puts them back.  An answer holding bytes goes as msgpack, an emit holding bytes in
the redis-emitter's msgpack format on <REDIS_KEY>#<nsp># (the JSON channel has no
bytes), written with msgpack-python (Debian: python3-msgpack).  Acks are answered on the
record's reply channel; other joins and emits go through roomcastd's JSON channel
(redis_emit_channel).  Each entry is acknowledged (XACK) once handled, also one
whose handling failed (logged: an entry that raises would raise again in every
worker that claims it); entries another worker left pending for CLAIM_IDLE_MS are
claimed (XAUTOCLAIM) at start and then every few seconds.

  REDIS_URL=redis://127.0.0.1:6379 CONSUMER=py1 /usr/bin/python3 examples/backend.py

Environment: REDIS_URL, STREAM, GROUP, CONSUMER, EMIT_CHANNEL, REDIS_KEY,
CLAIM_IDLE_MS, CRASH_ON, with the same meanings and defaults as in backend.js.
"""
import json
import os
import re
import sys
import time

import msgpack
import redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
STREAM = os.environ.get("STREAM", "roomcast:events")
GROUP = os.environ.get("GROUP", "workers")
CONSUMER = os.environ.get("CONSUMER", f"worker-{os.getpid()}")
EMIT_CHANNEL = os.environ.get("EMIT_CHANNEL", "roomcast-emit")
REDIS_KEY = os.environ.get("REDIS_KEY", "socket.io")
CLAIM_IDLE_MS = int(os.environ.get("CLAIM_IDLE_MS", "60000"))
CRASH_ON = os.environ.get("CRASH_ON", "")

# Not decode_responses=True: the binN fields are raw bytes, not UTF-8.
r = redis.Redis.from_url(REDIS_URL)


def has_bytes(v):
    if isinstance(v, (bytes, bytearray)):
        return True
    if isinstance(v, dict):
        return any(has_bytes(x) for x in v.values())
    return isinstance(v, list) and any(has_bytes(x) for x in v)


def with_bytes(v, record):
    """<v> with each {"_placeholder":true,"num":N} replaced by attachment N (field binN)."""
    if isinstance(v, dict):
        if v.get("_placeholder") is True and isinstance(v.get("num"), int):
            return record.get(f"bin{v['num']}")
        return {k: with_bytes(x, record) for k, x in v.items()}
    if isinstance(v, list):
        return [with_bytes(x, record) for x in v]
    return v


def act(message):
    """Joins, leaves or disconnects through roomcastd's JSON channel; emits there too,
    unless the data holds bytes: then as @socket.io/redis-emitter does, which every
    roomcastd (and Node server) of the cluster reads."""
    if not has_bytes(message.get("data")):
        r.publish(EMIT_CHANNEL, json.dumps(message))
        return
    packet = {"type": 2, "data": message["data"], "nsp": message["nsp"]}
    opts = {"rooms": message["rooms"], "except": [], "flags": {}}
    r.publish(f"{REDIS_KEY}#{message['nsp']}#", msgpack.packb(["emitter", packet, opts]))


def answer(record, args):
    """Answers the client's ack, when the record asked for one: as msgpack when the
    arguments hold bytes (the client gets them in a BINARY_ACK), else as JSON."""
    if record.get("reply"):
        reply = {"sid": record["sid"], "ack": int(record["ack"]), "args": args}
        r.publish(record["reply"], msgpack.packb(reply) if has_bytes(args) else json.dumps(reply))


def handle_event(record):
    args = with_bytes(json.loads(record["args"]), record)
    sender = record.get("user") or record["sid"]
    event, nsp = record["event"], record["nsp"]
    if event == "echo":
        answer(record, args)
    elif event == "subscribe":
        act({"nsp": nsp, "rooms": [record["sid"]], "join": [str(args[0])]})
        answer(record, ["ok"])
    elif event == "say":
        act({"nsp": nsp, "rooms": [str(args[0])], "data": ["said", {"from": sender, "text": args[1]}]})
    elif event == "whisper":
        act({"nsp": nsp, "rooms": [f"user:{args[0]}"], "data": ["whisper", {"from": sender, "text": args[1]}]})
    else:
        answer(record, [{"error": f"unknown event {event}"}])


def decide_connect(record):
    """The decision on a CONNECT to an `auth backend` namespace."""
    cookie = json.loads(record.get("headers") or "{}").get("cookie", "")
    m = re.search(r"(?:^|;\s*)session=([^;\s]+)", cookie)
    return {"accept": True, "user": m.group(1)} if m else {"accept": False, "message": "not signed in"}


def fields(message):
    """A stream entry's fields as read (bytes): text, but for the bytes of binN."""
    out = {}
    for k, v in message.items():
        name = k.decode()
        out[name] = v if re.fullmatch(r"bin\d+", name) else v.decode("utf-8", "replace")
    return out


def handle(entry_id, message):
    entry_id = entry_id.decode()
    record = fields(message)
    if record.get("type") == "event" and record.get("event") == CRASH_ON:
        print(f"{CONSUMER}: crashing on {entry_id} ({CRASH_ON}), not acknowledged", flush=True)
        os._exit(1)
    try:
        if record.get("type") == "event":
            handle_event(record)
        elif record.get("type") == "connect" and record.get("ack"):
            answer(record, [decide_connect(record)])
        else:
            print(f"{CONSUMER}: {record.get('type')} {record.get('nsp')} {record.get('sid')}", flush=True)
    except Exception as e:  # noqa: BLE001 - one bad entry must not stop the worker
        print(f"{CONSUMER}: {entry_id} failed, acknowledged all the same: {e!r}", flush=True)
    r.xack(STREAM, GROUP, entry_id)
    print(f"{CONSUMER}: handled {entry_id} {record.get('type')} {record.get('event', '')}", flush=True)


def claim():
    """Takes over what workers that died left pending for CLAIM_IDLE_MS."""
    cursor = "0-0"
    while True:
        reply = r.xautoclaim(STREAM, GROUP, CONSUMER, CLAIM_IDLE_MS, cursor, count=100)
        cursor, messages = reply[0], reply[1]
        for entry_id, record in messages:
            if record:
                handle(entry_id, record)
        if cursor in (b"0-0", "0-0"):
            return


def main():
    try:
        r.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    except redis.ResponseError as e:
        if not str(e).startswith("BUSYGROUP"):
            raise
    claim()
    print(f"{CONSUMER}: reading {STREAM} as {GROUP}", flush=True)
    next_claim = time.monotonic() + min(CLAIM_IDLE_MS, 5000) / 1000
    while True:
        for _stream, messages in r.xreadgroup(GROUP, CONSUMER, {STREAM: ">"}, count=100, block=1000) or []:
            for entry_id, record in messages:
                handle(entry_id, record)
        if time.monotonic() >= next_claim:
            claim()
            next_claim = time.monotonic() + min(CLAIM_IDLE_MS, 5000) / 1000


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)

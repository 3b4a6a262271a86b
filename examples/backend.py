#!/usr/bin/python3
"""backend.py - a roomcastd backend worker in Python, with redis-py (Debian: python3-redis).

It does what examples/backend.js does, as one worker of the same consumer group (the
two may run side by side): it reads the client events roomcastd adds to its Redis
Stream and acts on them with nothing but Redis commands:
  echo(*args, ack)        answers the ack with the same arguments
  subscribe(room, ack)    joins the sender's socket to <room>, answers "ok"
  say(room, text)         emits said({from, text}) to everyone in <room>
  whisper(user, text)     emits whisper({from, text}) to every device of <user>
A connect record with an ack comes from a namespace with `auth backend`: it is
accepted when its cookie header (backend_headers cookie) holds session=<name>, with
user <name>, else refused with "not signed in" (a real app looks the session up).
Acks are answered on the record's reply channel; joins and emits go through
roomcastd's JSON channel (redis_emit_channel).  Each entry is acknowledged (XACK)
once handled; entries another worker left pending for CLAIM_IDLE_MS are claimed
(XAUTOCLAIM) at start and then every few seconds.

  REDIS_URL=redis://127.0.0.1:6379 CONSUMER=py1 /usr/bin/python3 examples/backend.py

Environment: REDIS_URL, STREAM, GROUP, CONSUMER, EMIT_CHANNEL, CLAIM_IDLE_MS,
CRASH_ON, with the same meanings and defaults as in backend.js.
"""
import json
import os
import re
import sys
import time

import redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
STREAM = os.environ.get("STREAM", "roomcast:events")
GROUP = os.environ.get("GROUP", "workers")
CONSUMER = os.environ.get("CONSUMER", f"worker-{os.getpid()}")
EMIT_CHANNEL = os.environ.get("EMIT_CHANNEL", "roomcast-emit")
CLAIM_IDLE_MS = int(os.environ.get("CLAIM_IDLE_MS", "60000"))
CRASH_ON = os.environ.get("CRASH_ON", "")

r = redis.Redis.from_url(REDIS_URL, decode_responses=True)


def act(message):
    """Emits, joins, leaves or disconnects through roomcastd's JSON channel."""
    r.publish(EMIT_CHANNEL, json.dumps(message))


def answer(record, args):
    """Answers the client's ack, when the record asked for one."""
    if record.get("reply"):
        r.publish(record["reply"], json.dumps({"sid": record["sid"], "ack": int(record["ack"]), "args": args}))


def handle_event(record):
    args = json.loads(record["args"])
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


def handle(entry_id, record):
    if record.get("type") == "event" and record.get("event") == CRASH_ON:
        print(f"{CONSUMER}: crashing on {entry_id} ({CRASH_ON}), not acknowledged", flush=True)
        os._exit(1)
    if record.get("type") == "event":
        handle_event(record)
    elif record.get("type") == "connect" and record.get("ack"):
        answer(record, [decide_connect(record)])
    else:
        print(f"{CONSUMER}: {record.get('type')} {record.get('nsp')} {record.get('sid')}", flush=True)
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
        if cursor == "0-0":
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

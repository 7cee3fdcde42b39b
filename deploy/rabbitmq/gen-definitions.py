#!/usr/bin/env python3
"""Generate RabbitMQ definitions (topology only) for a docaxis axis.

Usage: gen-definitions.py PREFIX VHOST MAX_DELIVERIES AGENCY... > definitions.json

The result mirrors what `RabbitAxis::setup` declares (same names,
arguments and bindings); see notes.md on argument-type equivalence. Users and permissions are produced by
`docaxis broker provision` (crates/axis/src/provision.rs), which hashes
passwords; they are not generated here.
"""
import json
import sys


def topology(prefix, vhost, max_deliveries, agencies, tap=True):
    x = lambda name: {"name": f"{prefix}.{name}", "vhost": vhost, "type": "direct",
                      "durable": True, "auto_delete": False, "internal": False,
                      "arguments": {}}
    exchanges = [x("documents"), x("statuses"), x("dead")]
    queues, bindings = [], []

    def quorum(name, dead_key=None):
        args = {"x-queue-type": "quorum"}
        if dead_key is not None:
            args.update({"x-delivery-limit": max_deliveries - 1,
                         "x-dead-letter-exchange": f"{prefix}.dead",
                         "x-dead-letter-routing-key": dead_key})
        queues.append({"name": name, "vhost": vhost, "durable": True,
                       "auto_delete": False, "arguments": args})

    def bind(queue, exchange, key):
        bindings.append({"source": exchange, "vhost": vhost, "destination": queue,
                         "destination_type": "queue", "routing_key": key,
                         "arguments": {}})

    if tap:
        quorum(f"{prefix}.tap", "tap")
        quorum(f"{prefix}.tap.dlq")
        bind(f"{prefix}.tap.dlq", f"{prefix}.dead", "tap")
    for a in agencies:
        quorum(f"{prefix}.in.{a}", f"in.{a}")
        quorum(f"{prefix}.dlq.{a}")
        for ex in ("documents", "statuses"):
            bind(f"{prefix}.in.{a}", f"{prefix}.{ex}", a)
            if tap:
                bind(f"{prefix}.tap", f"{prefix}.{ex}", a)
        bind(f"{prefix}.dlq.{a}", f"{prefix}.dead", f"in.{a}")
    return {"vhosts": [{"name": vhost}], "exchanges": exchanges,
            "queues": queues, "bindings": bindings}


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    prefix, vhost, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(topology(prefix, vhost, limit, sys.argv[4:]), indent=2))

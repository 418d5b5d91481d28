#!/usr/bin/env python3
"""Checks that a GET stream opened through a front process (a Worker whose Durable Object bindings name
another process's script) is held by a hibernatable WebSocket in the objects' process: the shard
holding it is evicted while idle (its instance id changes) and a broadcast sent afterwards still
reaches the stream. Prints one JSON line; exits 1 if the stream did not get the message.

  cluster_hibernation_check.py --url http://127.0.0.1:PORT/mcp --token ADMIN_TOKEN [--idle-secs 20]
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

PROTOCOL = "2025-11-25"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--idle-secs", type=float, default=20.0)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    host, port, path = url.hostname, url.port, url.path or "/mcp"

    def request(method, target, body=None, headers=None, timeout=15):
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.request(method, target, json.dumps(body) if body is not None else None, headers or {})
        return connection, connection.getresponse()

    def post(body, session=None):
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if session:
            headers.update({"mcp-session-id": session, "mcp-protocol-version": PROTOCOL})
        _, response = request("POST", path, body, headers)
        return response, response.read()

    def shard_instances():
        _, response = request("GET", "/mesh/status", headers={"authorization": f"Bearer {args.token}"})
        status = json.loads(response.read())
        return {s["shard"]: (s["instance"], s["sessions"]) for s in status["shards"]}

    init = {"protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "hibernation-check", "version": "1"}}
    response, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
    session = response.getheader("mcp-session-id")
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    received = threading.Event()
    marker = f"hibernation-check-{time.time_ns()}"

    def read_stream():
        headers = {"accept": "text/event-stream", "mcp-session-id": session, "mcp-protocol-version": PROTOCOL}
        _, stream = request("GET", path, headers=headers, timeout=args.idle_secs + 30)
        while True:
            line = stream.fp.readline()
            if not line:
                return
            if marker.encode() in line:
                received.set()
                return

    threading.Thread(target=read_stream, daemon=True).start()
    time.sleep(1.0)
    before = {shard: instance for shard, (instance, sockets) in shard_instances().items() if sockets > 0}
    time.sleep(args.idle_secs)
    # The status call wakes every shard; take the instances it reports before the broadcast.
    after = {shard: instance for shard, (instance, _) in shard_instances().items() if shard in before}
    post({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
          "params": {"name": "announce", "arguments": {"text": marker}}},
         session)
    delivered = received.wait(10.0)
    request("DELETE", path, headers={"mcp-session-id": session, "mcp-protocol-version": PROTOCOL})
    evicted = bool(before) and all(after.get(shard) != instance for shard, instance in before.items())
    print(json.dumps({"shards_with_the_stream": sorted(before), "evicted_while_idle": evicted,
                      "delivered_after_wake": delivered, "idle_secs": args.idle_secs}))
    sys.exit(0 if delivered else 1)


if __name__ == "__main__":
    main()

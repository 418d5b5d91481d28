#!/usr/bin/env python3
"""Where a workerd CPU profile's time went, by kind of work: the share of busy samples whose stack
holds a frame of each category (the first matching category in the list wins).

    python3 scripts/profile_categories.py PROFILE.cpuprofile BUNDLE.js [TOP_OTHER]

BUNDLE.js is the script wrangler served (.wrangler/tmp/dev-*/index.js), to name anonymous JS frames.
"""
import collections
import json
import re
import sys

CATEGORIES = [
    ("garbage collection", r"^\(garbage collector\)"),
    ("workerd native (I/O, sockets, HTTP)", r"^\(program\)"),
    ("SQL (shard and coordinator storage)", r"SqlStorage::exec|^exec |to_array|SqlStorageCursor"),
    ("relay: shard socket -> SSE body (Worker)",
     r"relay::|addEventListener\(\"message\"|writeBytes|EventStream|WebsocketEvent|SseSink"),
    ("shard send loop (per socket)", r"function oe\(|send_with_str|__wbg_deliver|SyncLayer::send\b|SyncLayer::send::"),
    ("object calls (stub fetch, request and response bodies)",
     r"stubs::|Stub::fetch|Response::text|Request::new_with_init|callObject|upgradeObject|"
     r"request::Request::text|ReadableStreamDefaultReader|__wbg_read_|releaseLock|json_response|read_json"),
    ("MCP request handling (Worker, wasm)", r"mcp_mesh::mcp::|mcp_mesh::cloudflare::mcp|to_core_request|serve::|route::"),
    ("shard and coordinator request handling (wasm)", r"SyncLayer|Coordinator|membership"),
]


def main():
    profile = json.load(open(sys.argv[1]))
    source = open(sys.argv[2]).read().split("\n")
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}

    def label(node):
        frame = node["callFrame"]
        line = frame["lineNumber"]
        text = source[line] if frame["url"].endswith("index.js") and 0 <= line < len(source) else ""
        return (frame["functionName"] or "(anon)") + " " + text

    counts, other = collections.Counter(), collections.Counter()
    idle = 0
    for sample in profile["samples"]:
        chain, node = [], sample
        while node is not None:
            chain.append(label(nodes[node]))
            node = parent.get(node)
        if chain[0].startswith("(idle)"):
            idle += 1
            continue
        for name, pattern in CATEGORIES:
            if any(re.search(pattern, frame) for frame in chain):
                counts[name] += 1
                break
        else:
            counts["other (runtime glue, futures, allocation)"] += 1
            other[" <- ".join(frame[:50] for frame in chain[:3])] += 1
    busy = sum(counts.values())
    print(f"samples {len(profile['samples'])}, busy {busy} ({100 * busy / max(1, len(profile['samples'])):.0f}%)")
    for name, n in counts.most_common():
        print(f"{100 * n / busy:5.1f}%  {name}")
    for stack, n in other.most_common(int(sys.argv[3]) if len(sys.argv) > 3 else 0):
        print(f"   {100 * n / busy:5.1f}%  {stack}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Collects `make bench-cluster` (scripts/bench_cluster.sh) into loadtest/results/cluster.json.

  run   merges one run's probe processes (probe-*.json in --dir) into one line of JSON
  write gathers those lines into cluster.json, keeping the "model" the capacity example wrote
"""
import argparse
import glob
import json
import math
import os
import time
import sys

sys.path.insert(0, os.path.dirname(__file__))
from bench_collect import machine  # noqa: E402


def percentile(sorted_values, p):
    """The nearest-rank percentile, as the probe computes it."""
    if not sorted_values:
        return None
    rank = math.ceil(p / 100.0 * len(sorted_values))
    return round(sorted_values[min(max(rank, 1), len(sorted_values)) - 1], 1)


CLOCK_TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def cpu_in_window(path, start_ms, end_ms):
    """CPU milliseconds each kind of process (objects, front, probe) spent in [start_ms, end_ms], from
    the sampler's "time_ms group pid ticks" lines, each process's ticks interpolated at both ends."""
    series = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            at, group, pid, ticks = int(parts[0]), parts[1], parts[2], int(parts[3])
            series.setdefault((group, pid), []).append((at, ticks))

    def ticks_at(points, t):
        before = [p for p in points if p[0] <= t]
        after = [p for p in points if p[0] >= t]
        if not before:
            return points[0][1]
        if not after:
            return points[-1][1]
        (t0, v0), (t1, v1) = before[-1], after[0]
        return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    spent = {}
    for (group, _), points in series.items():
        kind = group.split("-")[0]
        points.sort()
        delta = ticks_at(points, end_ms) - ticks_at(points, start_ms)
        spent[kind] = spent.get(kind, 0.0) + delta * CLOCK_TICK_MS
    return {kind: round(ms, 1) for kind, ms in sorted(spent.items())}


def phase_cpu(cpu_path, start_ms, end_ms, count, per_key):
    """CPU each kind of process spent in one phase [start_ms, end_ms], in all and per `count` operations
    (µs, under `per_key`); None without samples, a window or operations."""
    if not (os.path.exists(cpu_path) and start_ms and end_ms and count):
        return None
    spent = cpu_in_window(cpu_path, start_ms, end_ms)
    return {
        "window_ms": round(end_ms - start_ms, 1),
        "cpu_ms": spent,
        per_key: {kind: round(ms * 1000.0 / count, 2) for kind, ms in spent.items()},
    }


def parse_json_line(text):
    """The last line of a check's output as JSON, or the text itself when it is not JSON."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except ValueError:
        return {"output": text[-500:]}


def run_tag(run):
    """The name a run's logs start with (bench_cluster.sh's `tag`; a point's repeats add -r2, -r3...)."""
    return run.get("tag") or f"{run['system']}-{run['sessions']}-f{run['fronts']}"


def front_log_errors(log_dir, tag):
    """Error lines the fronts' logs hold, counted by message (the seed's KV, shared by the fronts through
    one SQLite file, reports SQLITE_BUSY there)."""
    counts = {}
    for path in sorted(glob.glob(os.path.join(log_dir, f"{tag}-front-*.log"))):
        with open(path, errors="replace") as f:
            for line in f:
                if "[wrangler:error]" in line or "Uncaught" in line:
                    message = line.split("Error:", 1)[-1].strip()[:120]
                    counts[message] = counts.get(message, 0) + 1
    return counts


def judge(run):
    """What broke in a run, in words, or None: a failure the run itself reported, failed calls, or
    deliveries missing."""
    if run.get("failure"):
        return run["failure"]
    if run.get("errors"):
        samples = run.get("error_samples") or []
        return f"{run['errors']} failed calls" + (f", e.g. {samples[0]}" if samples else "")
    lost = run.get("expected", 0) - run.get("delivered", 0)
    if lost > 0:
        per = run["delivered"] / max(run.get("broadcasts_sent", 1), 1)
        return (f"{lost} of {run['expected']} broadcast deliveries missing: each broadcast reached "
                f"{per:.0f} of {run['sessions_open']} streams; the server closed "
                f"{run.get('streams_closed_early', 0)} streams during the run")
    missing = run.get("targeted_expected", 0) - run.get("targeted_delivered", 0)
    if missing > 0:
        errors = run.get("front_log_errors") or {}
        top = max(errors.items(), key=lambda kv: kv[1]) if errors else None
        return (f"{missing} of {run['targeted_expected']} targeted deliveries missing"
                + (f" (fronts logged '{top[0]}' {top[1]} times)" if top else ""))
    return None


def merge_run(args):
    probes = []
    for path in sorted(glob.glob(os.path.join(args.dir, "probe-*.json"))):
        try:
            with open(path) as f:
                probes.append(json.load(f))
        except (OSError, ValueError) as error:
            probes.append({"errors": 1, "error_samples": [f"{os.path.basename(path)}: {error}"]})
    leader = next((p for p in probes if p.get("system") == "p0"), {})
    broadcast = sorted(x for p in probes for x in p.get("broadcast_latencies_ms", []))
    targeted = sorted(x for p in probes for x in p.get("targeted_latencies_ms", []))
    opened = sum(p.get("sessions_open", 0) for p in probes)
    create_secs = max((p.get("create_secs", 0.0) for p in probes), default=0.0)
    errors = sum(p.get("errors", 0) for p in probes)
    samples = [s for p in probes for s in p.get("error_samples", [])][:5]
    failure = args.failure or None
    if failure is None and len(probes) < args.fronts:
        failure = f"{args.fronts - len(probes)} probe process(es) wrote no result"
    cpu_path = os.path.join(args.dir, "cpu.tsv")
    started = leader.get("broadcast_started_ms")
    drained = [p["broadcast_drained_ms"] for p in probes if "broadcast_drained_ms" in p]
    delivered = sum(p.get("delivered", 0) for p in probes)
    broadcast_cpu = phase_cpu(cpu_path, started, max(drained, default=None), delivered, "cpu_us_per_delivery")
    create_starts = [p["create_started_ms"] for p in probes if "create_started_ms" in p]
    create_ends = [p["create_started_ms"] + p.get("create_secs", 0.0) * 1000.0
                   for p in probes if "create_started_ms" in p]
    create_cpu = phase_cpu(cpu_path, min(create_starts, default=None), max(create_ends, default=None), opened,
                           "cpu_us_per_create")
    # Per targeted call: from the first call to the last subscriber's notification, all processes.
    targeted_drained = [p["targeted_drained_ms"] for p in probes if "targeted_drained_ms" in p]
    targeted_cpu = phase_cpu(cpu_path, leader.get("targeted_started_ms"), max(targeted_drained, default=None),
                             leader.get("targeted_calls", 0), "cpu_us_per_call")
    if targeted_cpu is not None:
        targeted_cpu["subscribers"] = sum(p.get("targeted_subscribers", 0) for p in probes)
    objects_errors = []
    if args.objects_log and os.path.exists(args.objects_log):
        with open(args.objects_log, errors="replace") as f:
            objects_errors = [line.strip()[:300] for line in f if "rror" in line and "Request.cf" not in line
                              and "getaddrinfo" not in line and "GetAddrInfo" not in line][:5]
    return {
        "system": args.system,
        "sessions": args.sessions,
        "sessions_open": opened,
        "fronts": args.fronts,
        "probe_processes": len(probes),
        "broadcast_p50_ms": percentile(broadcast, 50),
        "broadcast_p95_ms": percentile(broadcast, 95),
        "broadcast_p99_ms": percentile(broadcast, 99),
        "broadcast_max_ms": broadcast[-1] if broadcast else None,
        "broadcasts_sent": leader.get("broadcasts_sent", 0),
        # The announcing caller's wait for its tool call's answer (the leader makes every call).
        "announce_call_p50_ms": leader.get("announce_call_p50_ms"),
        "announce_call_p99_ms": leader.get("announce_call_p99_ms"),
        "delivered": sum(p.get("delivered", 0) for p in probes),
        "expected": sum(p.get("expected", 0) for p in probes),
        "targeted_calls": leader.get("targeted_calls", 0),
        "targeted_per_s": leader.get("targeted_per_s", 0.0),
        "targeted_delivered": sum(p.get("targeted_delivered", 0) for p in probes),
        "targeted_expected": sum(p.get("targeted_expected", 0) for p in probes),
        "targeted_p50_ms": percentile(targeted, 50),
        "targeted_p99_ms": percentile(targeted, 99),
        "errors": errors,
        "error_samples": samples,
        "streams_closed_early": sum(p.get("streams_closed_early", 0) for p in probes),
        "creates_per_s": round(opened / create_secs, 1) if create_secs > 0 else 0.0,
        "rss_mb": {
            "objects": float(args.rss_objects or 0),
            "fronts": [float(x) for x in (args.rss_fronts or "").split()],
        },
        "broadcast_cpu": broadcast_cpu,
        "create_cpu": create_cpu,
        "targeted_cpu": targeted_cpu,
        "hibernation_check": parse_json_line(args.hibernation),
        "objects_log_errors": objects_errors,
        "tag": args.tag or None,
        "front_log_errors": front_log_errors(args.log_dir, run_tag(vars(args))) if args.log_dir else {},
        "failure": failure,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_key(run):
    return (run.get("system"), run.get("sessions"), run.get("fronts"))


def write(args):
    runs = []
    with open(args.runs) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    model = None
    previous = []
    if os.path.exists(args.out):
        try:
            with open(args.out) as f:
                old = json.load(f)
            model = old.get("model")
            previous = old.get("runs", [])
        except (OSError, ValueError):
            model = None
    if args.keep:
        # Earlier runs stay, in their place, with the date they were measured: all of them (these runs
        # are repeats the model takes the median of), or those this invocation did not repeat.
        fresh = set() if args.keep == "all" else {run_key(r) for r in runs}
        runs = [r for r in previous if run_key(r) not in fresh] + runs
        order = {}
        for r in previous:
            order.setdefault(run_key(r), len(order))
        runs.sort(key=lambda r: order.get(run_key(r), len(order)))
    doc = {"machine": machine(), "runs": runs}
    if model is not None:
        doc["model"] = model
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--system", required=True)
    run.add_argument("--sessions", type=int, required=True)
    run.add_argument("--fronts", type=int, required=True)
    run.add_argument("--dir", required=True)
    run.add_argument("--rss-objects", default="0")
    run.add_argument("--rss-fronts", default="")
    run.add_argument("--failure", default="")
    run.add_argument("--objects-log", default="")
    run.add_argument("--hibernation", default="")
    run.add_argument("--log-dir", default="")
    run.add_argument("--tag", default="")
    again = sub.add_parser("judge")
    again.add_argument("--out", required=True)
    again.add_argument("--log-dir", default="")
    out = sub.add_parser("write")
    out.add_argument("--runs", required=True)
    out.add_argument("--out", required=True)
    out.add_argument("--keep", choices=["others", "all"], help="earlier runs to keep (default: none)")
    args = parser.parse_args()
    if args.command == "run":
        run = merge_run(args)
        run["failure"] = judge(run)
        print(json.dumps(run))
    elif args.command == "judge":
        # Re-derives each run's failure (and the fronts' log errors, if their logs are still there).
        with open(args.out) as f:
            doc = json.load(f)
        for run in doc["runs"]:
            if args.log_dir:
                run["front_log_errors"] = front_log_errors(args.log_dir, run_tag(run))
            run["failure"] = judge(run)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    else:
        write(args)


if __name__ == "__main__":
    main()

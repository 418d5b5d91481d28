#!/usr/bin/env python3
"""Collects one `make bench` run into loadtest/results/latest.json: the machine, the probe runs
(baseline / mesh-1 / mesh-16 at each session count), the k6 summaries, the criterion estimates, and
ratios of the mesh against the baseline at each session count.

    python3 scripts/bench_collect.py RUNS_DIR WORK_DIR OUT_JSON "SYSTEMS" "SESSIONS_LIST"
"""
import glob
import json
import os
import platform
import sys


def machine():
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gb": round(mem_kb / 1048576, 1), "cpu": cpu, "kernel": platform.release()}


def criterion(root="target/criterion"):
    """Per-element nanoseconds (Elements throughput) or MiB/s (Bytes throughput), from the newest run."""
    out = {}
    for bench in sorted(glob.glob(os.path.join(root, "**", "new", "benchmark.json"), recursive=True)):
        estimates = os.path.join(os.path.dirname(bench), "estimates.json")
        try:
            with open(bench) as f:
                meta = json.load(f)
            with open(estimates) as f:
                mean_ns = json.load(f)["mean"]["point_estimate"]
        except (OSError, KeyError, ValueError):
            continue
        throughput = meta.get("throughput") or {}
        entry = {"mean_ns": round(mean_ns, 1)}
        if "Elements" in throughput:
            entry["ns_per_element"] = round(mean_ns / throughput["Elements"], 2)
        if "Bytes" in throughput:
            entry["mib_per_s"] = round(throughput["Bytes"] / (mean_ns / 1e9) / 1048576, 1)
        out[meta["full_id"]] = entry
    return out


def k6(work_dir):
    out = {"tools": {}}
    for path in sorted(glob.glob(os.path.join(work_dir, "k6-*.json"))):
        name = os.path.basename(path)[len("k6-"):-len(".json")]
        try:
            with open(path) as f:
                summary = json.load(f).get("compact")
        except (OSError, ValueError):
            continue
        if name.startswith("tools-"):
            out["tools"][name[len("tools-"):]] = summary
        else:
            out[name] = summary
    return out


def tool_call_p50(k6_doc, system):
    try:
        return k6_doc["tools"][system]["trends"]["tool_call_ms"]["med"]
    except (KeyError, TypeError):
        return None


def storms(runs_dir):
    """The reconnect storm per system (`probe --storm`): streams opened of those asked at once."""
    out = {}
    for path in sorted(glob.glob(os.path.join(runs_dir, "storm-*.json"))):
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError):
            continue
        out[report.get("system") or os.path.basename(path)[len("storm-"):-len(".json")]] = report
    return out


def ratios(runs, k6_doc=None, memory=None, storm=None):
    """Mesh vs baseline at each session count: how the issue's targets read. Figures measured once
    per system (k6 tool-call p50, idle memory per session, the reconnect storm) repeat at every K."""
    k6_doc, memory, storm = k6_doc or {}, memory or {}, storm or {}
    by_key = {(r.get("system"), r.get("sessions")): r for r in runs}
    out = []
    for (system, k), run in sorted(by_key.items(), key=lambda kv: (str(kv[0][0]), kv[0][1] or 0)):
        base = by_key.get(("baseline", k))
        if system == "baseline" or not base:
            continue
        def divide(a, b):
            return round(a / b, 2) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None

        def ratio(field):
            return divide(run.get(field), base.get(field))

        storm_opened = lambda s: (storm.get(s) or {}).get("storm_opened")
        out.append({
            "system": system, "sessions": k,
            "broadcast_p50_vs_baseline": ratio("broadcast_p50_ms"),
            "broadcast_p99_vs_baseline": ratio("broadcast_p99_ms"),
            "targeted_per_s_vs_baseline": ratio("targeted_per_s"),
            "creates_per_s_vs_baseline": ratio("creates_per_s"),
            "rss_vs_baseline": ratio("rss_mb"),
            "tool_call_p50_vs_baseline": divide(tool_call_p50(k6_doc, system), tool_call_p50(k6_doc, "baseline")),
            "memory_per_session_vs_baseline": divide(memory.get(system), memory.get("baseline")),
            "storm_opened_vs_baseline": divide(storm_opened(system), storm_opened("baseline")),
        })
    return out


def memory_per_session(runs):
    """Idle RSS growth per session (every session open, before any send) between the smallest and
    largest session count, per system: what one more idle session costs the server."""
    out = {}
    for system in sorted({r.get("system") for r in runs}):
        points = sorted((r["sessions"], r["rss_idle_mb"]) for r in runs
                        if r.get("system") == system and isinstance(r.get("rss_idle_mb"), (int, float))
                        and r.get("sessions"))
        if len(points) >= 2 and points[-1][0] > points[0][0]:
            (k0, m0), (k1, m1) = points[0], points[-1]
            out[system] = round((m1 - m0) * 1024 / (k1 - k0), 1)
    return out


def main():
    runs_dir, work_dir, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    systems, ks = sys.argv[4].split(), sys.argv[5].split()
    runs = []
    for s in systems:
        for k in ks:
            path = os.path.join(runs_dir, f"{s}-{k}.json")
            if os.path.exists(path):
                with open(path) as f:
                    runs.append(json.load(f))
    k6_doc, memory, storm = k6(work_dir), memory_per_session(runs), storms(runs_dir)
    tasks_path = os.path.join(work_dir, "tasks.json")
    tasks = None
    if os.path.exists(tasks_path) and os.path.getsize(tasks_path) > 0:
        with open(tasks_path) as f:
            tasks = json.load(f)
    doc = {
        "machine": machine(),
        "runs": runs,
        "ratios": ratios(runs, k6_doc, memory, storm),
        "memory_kb_per_session": memory,
        "storm": storm,
        "k6": k6_doc,
        "core": criterion(),
        "tasks": tasks,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()

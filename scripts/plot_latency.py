#!/usr/bin/env python3
"""Draws broadcast delivery latency (p50 solid, p99 dashed) against the number of sessions, one
colour per system, as a hand-written SVG (no plotting library), and prints a markdown table.

    python3 scripts/plot_latency.py [loadtest/results/latest.json] [loadtest/results/latency.svg]
"""
import json
import math
import sys
from html import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def nice_max(v):
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def draw(runs, path):
    systems = []
    for r in runs:
        if r.get("system") not in systems:
            systems.append(r.get("system"))
    ks = sorted({r.get("sessions") for r in runs if isinstance(r.get("sessions"), int)})
    w, h = 720, 440
    left, right, top, bottom = 70, 170, 40, 60
    pw, ph = w - left - right, h - top - bottom
    values = [r.get(f) for r in runs for f in ("broadcast_p50_ms", "broadcast_p99_ms")
              if isinstance(r.get(f), (int, float))]
    ymax = nice_max(max(values) if values else 1.0)
    # x: log scale when the session counts span more than a factor of 10, else linear.
    log_x = len(ks) > 1 and ks[0] > 0 and ks[-1] / ks[0] >= 10
    def xpos(k):
        if len(ks) <= 1:
            return left + pw / 2
        if log_x:
            return (left + pw * (math.log10(k) - math.log10(ks[0]))
                    / (math.log10(ks[-1]) - math.log10(ks[0])))
        return left + pw * (k - ks[0]) / (ks[-1] - ks[0])
    def ypos(v):
        return top + ph - ph * (v / ymax)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15">'
           'Broadcast delivery latency vs sessions (p50 solid, p99 dashed)</text>']
    for i in range(6):
        v = ymax * i / 5
        y = ypos(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for k in ks:
        x = xpos(k)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 18}" text-anchor="middle">{k}</text>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 15}" text-anchor="middle">'
               f'sessions (open GET streams){" — log scale" if log_x else ""}</text>')
    out.append(f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>')
    for i, s in enumerate(systems):
        c = COLOURS[i % len(COLOURS)]
        rs = sorted((r for r in runs if r.get("system") == s and isinstance(r.get("sessions"), int)),
                    key=lambda r: r["sessions"])
        for field, dash in (("broadcast_p50_ms", ""), ("broadcast_p99_ms", ' stroke-dasharray="6 4"')):
            pts = [(xpos(r["sessions"]), ypos(r[field])) for r in rs if isinstance(r.get(field), (int, float))]
            if len(pts) > 1:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                out.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
            for x, y in pts:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{c}"/>')
        ly = top + 10 + i * 40
        lx = left + pw + 15
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 25}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{escape(str(s))} p50</text>')
        out.append(f'<line x1="{lx}" y1="{ly + 16}" x2="{lx + 25}" y2="{ly + 16}" stroke="{c}" stroke-width="2" '
                   'stroke-dasharray="6 4"/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 20}">{escape(str(s))} p99</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def table(doc):
    m = doc.get("machine", {})
    lines = [f"Machine: {m.get('cores')} cores, {m.get('memory_gb')} GB, {m.get('cpu') or 'cpu ?'}, "
             f"kernel {m.get('kernel')}", "",
             "| system | sessions | bcast p50 ms | bcast p95 ms | bcast p99 ms | bcast max ms | delivered/expected "
             "| targeted/s | targeted p50 ms | targeted p99 ms | targeted delivered/expected | creates/s "
             "| idle RSS MB | peak RSS MB | errors |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in doc.get("runs", []):
        lines.append("| " + " | ".join([
            str(r.get("system")), fmt(r.get("sessions")),
            fmt(r.get("broadcast_p50_ms")), fmt(r.get("broadcast_p95_ms")),
            fmt(r.get("broadcast_p99_ms")), fmt(r.get("broadcast_max_ms")),
            f"{fmt(r.get('delivered'))}/{fmt(r.get('expected'))}",
            fmt(r.get("targeted_per_s")), fmt(r.get("targeted_p50_ms")), fmt(r.get("targeted_p99_ms")),
            f"{fmt(r.get('targeted_delivered'))}/{fmt(r.get('targeted_expected'))}",
            fmt(r.get("creates_per_s")), fmt(r.get("rss_idle_mb")), fmt(r.get("rss_mb")), fmt(r.get("errors")),
        ]) + " |")
    if doc.get("ratios"):
        lines += ["", "Against the baseline at the same session count (issue 9 targets: broadcast p50/p99 <= 0.6 "
                  "for mesh-1 and <= 0.7 for mesh-16 at 1,000 and 10,000; creates/s >= 1.2 at 100 and 1,000; "
                  "targeted/s >= 1.0 at 100, >= 3 at 1,000 and 10,000; tool-call p50 <= 1.0; storm: all open; "
                  "memory per session <= 1.0):", "",
                  "| system | sessions | bcast p50 | bcast p99 | targeted/s | creates/s | peak RSS | tool-call p50 "
                  "| memory/session | storm opened |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in doc["ratios"]:
            cells = [r["system"], fmt(r["sessions"])] + [fmt(r.get(f), 2) for f in (
                "broadcast_p50_vs_baseline", "broadcast_p99_vs_baseline", "targeted_per_s_vs_baseline",
                "creates_per_s_vs_baseline", "rss_vs_baseline", "tool_call_p50_vs_baseline",
                "memory_per_session_vs_baseline", "storm_opened_vs_baseline")]
            lines.append("| " + " | ".join(cells) + " |")
    for system, storm in (doc.get("storm") or {}).items():
        lines.append(f"Reconnect storm on {system}: "
                     f"{fmt(storm.get('storm_opened'))}/{fmt(storm.get('storm_sessions'))} GET streams "
                     f"opened at once in {fmt(storm.get('storm_secs'))} s, {fmt(storm.get('storm_failed'))} failed")
    if doc.get("memory_kb_per_session"):
        lines += ["", "Idle RSS growth per session (KiB, smallest to largest session count): " +
                  ", ".join(f"{k} {fmt(v)}" for k, v in doc["memory_kb_per_session"].items())]
    k6 = doc.get("k6") or {}
    for system, c in (k6.get("tools") or {}).items():
        t = ((c or {}).get("trends") or {}).get("tool_call_ms") or {}
        lines.append(f"k6 tools.js on {system}: {fmt(c.get('http_reqs_per_s'))} req/s, "
                     f"tool_call p50 {fmt(t.get('med'))} ms, "
                     f"p95 {fmt(t.get('p95'))} ms, failed {fmt(c.get('http_req_failed_rate'), 4)}, "
                     f"{'PASS' if c.get('passed') else 'FAIL'}")
    poll = k6.get("sse_poll")
    if poll:
        t = (poll.get("trends") or {}).get("poll_delivery_ms") or {}
        lines.append(f"k6 sse_poll.js (mesh-16, STREAM_MAX_EVENTS=1): "
                     f"delivered {fmt((poll.get('rates') or {}).get('delivered'), 4)}, "
                     f"delivery p50 {fmt(t.get('med'))} ms, p95 {fmt(t.get('p95'))} ms, p99 {fmt(t.get('p99'))} ms "
                     f"over {fmt(t.get('count'))} deliveries, "
                     f"{fmt((poll.get('counters') or {}).get('polls'))} polls, "
                     f"{'PASS' if poll.get('passed') else 'FAIL'}")
    core = doc.get("core") or {}
    if core:
        lines += ["", "| core bench (criterion) | ns per element | MiB/s |", "| --- | ---: | ---: |"]
        for name, e in core.items():
            lines.append(f"| {name} | {fmt(e.get('ns_per_element'), 2)} | {fmt(e.get('mib_per_s'))} |")
    return "\n".join(lines)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "loadtest/results/latest.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "loadtest/results/latency.svg"
    with open(src) as f:
        doc = json.load(f)
    draw(doc.get("runs", []), dst)
    print(table(doc))
    print(f"\n(plot: {dst})")


if __name__ == "__main__":
    main()

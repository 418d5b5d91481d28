"""Parses a Prometheus text exposition (the file named by the first argument) with prometheus_client's own parser, the one a
Prometheus-compatible scraper in Python uses, and checks what the format requires beyond parsing:
each histogram's buckets are cumulative, end with +Inf, and the +Inf bucket equals _count.

Prints one JSON object: {"families": {name: type}, "samples": [[name, labels, value], ...]}; exits 1
with the reason on stderr when the text does not parse or a check fails."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as file:
        text = file.read()
    families = {}
    samples = []
    try:
        parsed = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises ValueError and others on bad input
        print(f"metrics do not parse: {error}", file=sys.stderr)
        return 1
    for family in parsed:
        families[family.name] = family.type
        if family.type == "histogram":
            problem = check_histogram(family)
            if problem:
                print(f"{family.name}: {problem}", file=sys.stderr)
                return 1
        for sample in family.samples:
            samples.append([sample.name, sample.labels, sample.value])
    print(json.dumps({"families": families, "samples": samples}))
    return 0


def check_histogram(family) -> str:
    series = {}
    for sample in family.samples:
        labels = {k: v for k, v in sample.labels.items() if k != "le"}
        key = json.dumps(labels, sort_keys=True)
        entry = series.setdefault(key, {"buckets": [], "count": None})
        if sample.name.endswith("_bucket"):
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            entry["count"] = sample.value
    for key, entry in series.items():
        buckets = entry["buckets"]
        if not buckets or buckets[-1][0] != float("inf"):
            return f"{key}: no +Inf bucket"
        if any(b[1] < a[1] or b[0] <= a[0] for a, b in zip(buckets, buckets[1:])):
            return f"{key}: buckets are not cumulative in increasing le"
        if entry["count"] != buckets[-1][1]:
            return f"{key}: _count {entry['count']} != +Inf bucket {buckets[-1][1]}"
    return ""


if __name__ == "__main__":
    sys.exit(main())

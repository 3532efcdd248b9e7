#!/usr/bin/env python3
"""Merges ila_bench's Google Benchmark JSON into libila's performance report.

    report.py --raw DIR/raw --out DIR

Writes DIR/results.json (every figure, ratios, targets, machine), DIR/report.md (tables) and,
when matplotlib is importable, DIR/performance.png. Exits 1 when a benchmark reported an error or
the output would not be valid JSON; 0 otherwise. Standard library only, apart from the plot.
"""
import argparse
import glob
import json
import math
import os
import platform
import re
import sys
import time

UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
SUFFIX = re.compile(r"(/(iterations:\d+|manual_time|real_time|min_time:[0-9.]+|repeats:\d+))+$")
MODES = ["adj-transport", "neutral-map", "neutral-map-auto", "no-action"]
TARGET_PROGRAM_COST_NS = 40.0
TARGET_UNIFORM_1M_NS = 250.0
TARGET_CEILING_FRACTION = 0.85
TARGET_OVER_KERNEL = 1.6
TARGET_LOAD_1M_S = 1.0
TARGET_OVER_VXLAN = 3.0
TARGET_TCP_OF_PLAIN = 0.98
ENCAPS = ["vxlan", "srv6_encap", "srv6_encap_red"]
TCP_METHODS = ["ila", "ila_tc", "plain", "plain_no_offload", "vxlan", "srv6_encap", "srv6_encap_red"]
PLAIN_HASH_ISSUE_NS = 416.0


def numeric(b):
    out = {k: v for k, v in b.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
           and math.isfinite(v)}
    scale = UNIT.get(b.get("time_unit", "ns"), 1.0)
    out["real_time_ns"] = b["real_time"] * scale
    out["cpu_time_ns"] = b["cpu_time"] * scale
    return out


def figure(e):
    """The headline figure of one run: median per-packet time, else packets/s, else real time."""
    for k in ("median_ns", "pps", "items_per_second"):
        if k in e:
            return e[k]
    return e["real_time_ns"]


# bench_support.h kNotMeasured: what this machine could not measure (a missing kernel feature).
NOT_MEASURED = "not measured here: "


def load(raw_dir):
    """Benchmarks by name. With repetitions, the median aggregate (counters included) stands for
    the benchmark, and the spread of the repetitions' headline figure is kept beside it."""
    runs, context, errors, not_measured = {}, {}, [], []
    for path in sorted(glob.glob(os.path.join(raw_dir, "*.json"))):
        with open(path) as f:
            try:
                doc = json.load(f)
            except json.JSONDecodeError as e:
                errors.append(f"{os.path.basename(path)}: not valid JSON ({e})")
                continue
        context.update(doc.get("context", {}))
        for b in doc.get("benchmarks", []):
            runs.setdefault(SUFFIX.sub("", b.get("run_name", b["name"])), []).append(b)
    benches = {}
    for name, entries in runs.items():
        failed = [e for e in entries if e.get("error_occurred")]
        for e in failed:
            msg = e.get("error_message", "error")
            if msg.startswith(NOT_MEASURED):
                not_measured.append(f"{name}: {msg[len(NOT_MEASURED):]}")
            else:
                errors.append(f"{name}: {msg}")
        if failed:
            continue
        for e in entries:  # a benchmark that left some of its methods out says which, and why
            label = e.get("label", "")
            if NOT_MEASURED in label:
                not_measured.append(f"{name}: {label[label.index(NOT_MEASURED) + len(NOT_MEASURED):]}")
                break
        medians = [e for e in entries
                   if e.get("run_type") == "aggregate" and e.get("aggregate_name") == "median"]
        reps = [numeric(e) for e in entries if e.get("run_type", "iteration") == "iteration"]
        if not reps:
            continue
        entry = numeric(medians[0]) if medians else reps[-1]
        entry["repetitions"] = len(reps)
        entry["label"] = next((e.get("label", "") for e in entries if e.get("label")), "")
        if len(reps) > 1:
            figs = [figure(r) for r in reps]
            entry["repetition_min"] = min(figs)
            entry["repetition_max"] = max(figs)
        benches[name] = entry
    return benches, context, errors, not_measured


def ns(benches, name):
    """The per-packet figure of a timed benchmark: the median when it has one, else the mean."""
    b = benches.get(name)
    if not b:
        return None
    return float(b.get("median_ns", b["real_time_ns"]))


def sub(a, b):
    return None if a is None or b is None else a - b


def ratio(a, b):
    return None if a is None or not b else a / b


def rnd(x, digits=1):
    return None if x is None else round(x, digits)


def machine(context):
    vulns = {}
    vdir = "/sys/devices/system/cpu/vulnerabilities"
    for name in ("spec_rstack_overflow", "spectre_v2", "retbleed"):
        try:
            with open(os.path.join(vdir, name)) as f:
                vulns[name] = f.read().strip()
        except OSError:
            pass
    hypervisor = None
    try:
        with open("/proc/cpuinfo") as f:
            if " hypervisor" in f.read():
                hypervisor = "yes (virtual machine)"
    except OSError:
        pass
    return {
        "cpu_model": context.get("cpu_model"),
        "num_cpus": context.get("num_cpus"),
        "mhz_per_cpu": context.get("mhz_per_cpu"),
        "caches": context.get("caches"),
        "kernel": context.get("kernel", platform.release()),
        "hypervisor": hypervisor,
        "mitigations": vulns,
        "date": context.get("date"),
        "host_name": context.get("host_name"),
        "load_avg": context.get("load_avg"),
    }


def per_packet(benches):
    cases = sorted({m.group(1) for n in benches for m in [re.match(r"cost/(.+)/(call|refresh)$", n)] if m})
    empty = {meth: ns(benches, f"cost/empty/{meth}") for meth in ("call", "refresh")}
    out = {}
    for c in cases:
        row = {}
        for meth in ("call", "refresh"):
            v = ns(benches, f"cost/{c}/{meth}")
            b = benches.get(f"cost/{c}/{meth}", {})
            row[meth] = {
                "median_ns": rnd(v),
                "mean_ns": rnd(b.get("real_time_ns")),
                "over_empty_ns": rnd(sub(v, empty[meth])),
            }
        out[c] = row
    return out


def scale(benches):
    out = {}
    for n in benches:
        m = re.match(r"scale/(\d+)/(hot|uniform)/(ila|plain_hash|slots|empty)/(call|refresh)$", n)
        if not m:
            continue
        size, dist, prog, meth = m.groups()
        v = ns(benches, n)
        e = ns(benches, f"scale/{size}/{dist}/empty/{meth}")
        out.setdefault(size, {}).setdefault(dist, {}).setdefault(prog, {})[meth] = {
            "median_ns": rnd(v),
            "over_empty_ns": rnd(sub(v, e)) if prog != "empty" else 0.0,
        }
        if "load_seconds" in benches[n]:
            out[size]["load_seconds"] = rnd(benches[n]["load_seconds"], 3)
        if "slots_max_probes" in benches[n]:
            # The data plane's own slot table (bench_slots_lookup reads it), as loaded above.
            out[size]["slots_table"] = {
                "max_probes": benches[n].get("slots_max_probes"),
                "mean_probes": rnd(benches[n].get("slots_mean_probes"), 3),
                "bytes": benches[n].get("slots_bytes"),
            }
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def live(benches):
    """live/<direction>: per-method median packets/s over interleaved rounds, and the ratios taken
    within each round (median, min, max)."""
    out = {}
    for n, b in benches.items():
        m = re.match(r"live/(from_container|from_uplink)$", n)
        if not m:
            continue
        d = out.setdefault(m.group(1), {"methods": {}})
        for k, v in b.items():
            mm = re.match(r"pps/(.+)$", k)
            if mm:
                meth = mm.group(1)
                d["methods"][meth] = {
                    "pps": rnd(v, 0),
                    "ns_per_packet": rnd(b.get(f"ns_per_packet/{meth}")),
                    "delivered_fraction": rnd(b.get(f"delivered_fraction/{meth}"), 4),
                    **traffic_figures(b, meth),
                }
        d.update(generator_of(b))
        for r in ("of_ceiling", "over_kernel_forward"):
            d[r] = {"median": rnd(b.get(r), 3), "min": rnd(b.get(f"{r}_min"), 3),
                    "max": rnd(b.get(f"{r}_max"), 3)}
        if "steered_over_direct" in b:
            d["steered_over_direct"] = {"median": rnd(b.get("steered_over_direct"), 3),
                                        "min": rnd(b.get("steered_over_direct_min"), 3),
                                        "max": rnd(b.get("steered_over_direct_max"), 3),
                                        "steer_cpus": b.get("steer_cpus"),
                                        "translated_off_generator_cpu": b.get("translated_off_generator_cpu")}
        d["rounds"] = b.get("rounds")
        d["burst_frames"] = b.get("burst")
        d["translated_by_dataplane"] = b.get("translated")
        ceiling = d["methods"].get("bare_redirect", {}).get("pps")
        kernel = d["methods"].get("kernel_forward", {}).get("pps")
        for v in d["methods"].values():
            v["of_ceiling_of_medians"] = rnd(ratio(v["pps"], ceiling), 3)
            v["over_kernel_of_medians"] = rnd(ratio(v["pps"], kernel), 3)
    return out


def generator_of(b):
    """Which generator produced a live or compare benchmark's figures, on which basis (label
    "generator=NAME basis=throughput|cpu_time_at_fixed_rate"), and the generator's own ceiling."""
    label = b.get("label", "")
    gen = re.search(r"generator=(\S+)", label)
    basis = re.search(r"basis=(\S+)", label)
    return {"generator": gen.group(1) if gen else "live_frames",
            "basis": basis.group(1) if basis else "throughput",
            "generator_ceiling_pps": rnd(b.get("generator_ceiling_pps"), 0),
            "offered_pps_cpu_rounds": rnd(b.get("offered_pps"), 0)}


def traffic_figures(b, meth):
    """A method's figures from real-traffic rounds (absent with live frames)."""
    if f"throughput_pps/{meth}" not in b:
        return {}
    return {"throughput_pps": rnd(b.get(f"throughput_pps/{meth}"), 0),
            "cpu_ns_per_packet": rnd(b.get(f"cpu_ns_per_packet/{meth}")),
            "cpu_cost_over_first": rnd(b.get(f"cpu_ratio/{meth}"), 3)}


def methods_of(b):
    out = {}
    for k, v in b.items():
        mm = re.match(r"pps/(.+)$", k)
        if mm:
            meth = mm.group(1)
            out[meth] = {
                "pps": rnd(v, 0),
                "ns_per_packet": rnd(b.get(f"ns_per_packet/{meth}")),
                "delivered_fraction": rnd(b.get(f"delivered_fraction/{meth}"), 4),
                "of_expected_kind": rnd(b.get(f"expected_kind/{meth}"), 4),
                **traffic_figures(b, meth),
            }
    return out


def compare(benches):
    """compare/from_container: ILA, its references and the encapsulations, in the same rounds."""
    b = benches.get("compare/from_container")
    if not b:
        return {}
    out = {"methods": methods_of(b), "rounds": b.get("rounds"), "burst_frames": b.get("burst"),
           "ratios": {}, **generator_of(b)}
    for key in ["of_ceiling", "ila_over_kernel_forward"] + [f"ila_over_{e}" for e in ENCAPS]:
        if key in b:
            out["ratios"][key] = {"median": rnd(b[key], 3), "min": rnd(b.get(f"{key}_min"), 3),
                                  "max": rnd(b.get(f"{key}_max"), 3)}
    return out


def tcp(benches):
    """tcp/container_to_container: iperf3 throughput and ping round trips per method."""
    b = benches.get("tcp/container_to_container")
    if not b:
        return {}
    out = {"runs_per_method": b.get("runs_per_method"), "seconds_per_run": b.get("seconds_per_run"),
           "pings_per_run": b.get("pings_per_run"), "methods": {},
           "ila_dataplane": {k: b.get(f"ila_{k}") for k in ("tx_remote", "rx_delivered", "passed")}}
    for m in TCP_METHODS:
        if f"gbps/{m}" not in b:
            continue
        out["methods"][m] = {
            "gbit_per_s": rnd(b[f"gbps/{m}"], 3),
            "gbit_per_s_min": rnd(b.get(f"gbps_min/{m}"), 3),
            "gbit_per_s_max": rnd(b.get(f"gbps_max/{m}"), 3),
            "of_plain": rnd(b.get(f"of_plain/{m}"), 3),
            "of_plain_min": rnd(b.get(f"of_plain_min/{m}"), 3),
            "of_plain_max": rnd(b.get(f"of_plain_max/{m}"), 3),
            "rtt_us_p50": rnd(b.get(f"rtt_us_p50/{m}"), 1),
            "rtt_us_p99": rnd(b.get(f"rtt_us_p99/{m}"), 1),
            "retransmits": b.get(f"retransmits/{m}"),
            "veth_drops": b.get(f"veth_drops/{m}"),
            "sender_tso": bool(b.get(f"sender_tso/{m}")),
        }
    ms = out["methods"]
    if "ila" in ms and "plain_no_offload" in ms:
        # The XDP path's own efficiency: against plain routing with the same sender offloads.
        out["ila_of_plain_no_offload_medians"] = rnd(
            ratio(ms["ila"]["gbit_per_s"], ms["plain_no_offload"]["gbit_per_s"]), 3)
    return out


def control(benches):
    out = {}
    for n, b in benches.items():
        m = re.match(r"control/(\w+)(?:/(\d+))?$", n)
        if not m:
            continue
        op, arg = m.groups()
        key = op if arg is None else f"{op}/{arg}"
        v = {"ops_per_second": rnd(b.get("items_per_second"), 0)}
        if op in ("load", "list", "kernel_floor"):
            v["seconds"] = rnd(b["real_time_ns"] / 1e9, 4)
        if op == "upsert_single" or op == "get":
            v["us_per_op"] = rnd(b["real_time_ns"] / 1e3, 2)
        if op == "upsert_batch":
            v["ms_per_batch"] = rnd(b["real_time_ns"] / 1e6, 3)
        for k in ("bytes_per_mapping", "bytes_per_mapping_forward_only", "memlock_mappings_bytes",
                  "memlock_reverse_bytes", "memlock_all_maps_bytes", "mappings"):
            if k in b:
                v[k] = rnd(b[k], 1)
        out[key] = v
    return out


def checks(benches):
    out = {}
    for n, b in benches.items():
        if n.startswith("check/"):
            out[n[len("check/"):]] = {k: b.get(k) for k in
                                      ("runs", "translated_tx_remote", "pass_not_sir", "fresh_fraction",
                                       "sent_paced", "arrived_paced", "unpaced_pps", "label")
                                      if k in b}
    return out


def target(name, measured, limit, unit, better="lower", note=""):
    if measured is None:
        return {"target": name, "limit": limit, "unit": unit, "measured": None, "met": None,
                "note": note or "not measured in this run"}
    met = measured <= limit if better == "lower" else measured >= limit
    if better == "lower":
        miss = None if met else f"{measured / limit:.1f}x the limit ({measured - limit:+.1f} {unit})"
    else:
        miss = None if met else f"{measured / limit * 100:.0f}% of the target"
    return {"target": name, "limit": limit, "unit": unit, "measured": rnd(measured, 3), "met": met,
            "missed_by": miss, "note": note}


def targets(pp, sc, lv, ct, cp=None, tc=None):
    t = []
    for meth in ("refresh", "call"):
        worst = None
        for mode in MODES:
            v = (pp.get(f"from_container_remote/{mode}") or {}).get(meth, {}).get("over_empty_ns")
            if v is not None:
                worst = v if worst is None else max(worst, v)
        t.append(target(f"from_container remote, hot mapping: program cost over the empty program "
                        f"({meth} method, worst checksum mode)", worst, TARGET_PROGRAM_COST_NS, "ns"))
    u = (sc.get("1000000") or {}).get("uniform", {})
    for meth in ("refresh", "call"):
        ila = (u.get("ila") or {}).get(meth, {})
        plain = (u.get("plain_hash") or {}).get(meth, {})
        t.append(target(f"1M mappings, uniformly random destinations: ns/packet over the empty "
                        f"program ({meth} method)", ila.get("over_empty_ns"), TARGET_UNIFORM_1M_NS, "ns",
                        note=f"plain hash reference here: {plain.get('over_empty_ns')} ns over empty, "
                             f"{plain.get('median_ns')} ns absolute"))
        t.append(target(f"1M mappings, uniformly random destinations: ns/packet absolute ({meth} "
                        f"method)", ila.get("median_ns"), TARGET_UNIFORM_1M_NS, "ns"))
    fc = lv.get("from_container", {})
    oc, ok = fc.get("of_ceiling", {}), fc.get("over_kernel_forward", {})
    t.append(target("from_container remote (neutral-map-auto), live: fraction of the bare-redirect "
                    "ceiling (median of per-round ratios)", oc.get("median"), TARGET_CEILING_FRACTION,
                    "x", better="higher", note=f"rounds ranged {oc.get('min')}..{oc.get('max')}"))
    t.append(target("from_container remote (neutral-map-auto), live: multiple of kernel IPv6 "
                    "forwarding (median of per-round ratios)", ok.get("median"), TARGET_OVER_KERNEL,
                    "x", better="higher", note=f"rounds ranged {ok.get('min')}..{ok.get('max')}"))
    load = ct.get("load/1000000", {}).get("seconds")
    t.append(target("batch load of 1M mappings (MappingTable::UpsertBatch)", load, TARGET_LOAD_1M_S, "s"))
    vx = ((cp or {}).get("ratios") or {}).get("ila_over_vxlan", {})
    t.append(target("two-host ILA path, live from_container: multiple of VXLAN over IPv6 in packets/s "
                    "(median of per-round ratios)", vx.get("median"), TARGET_OVER_VXLAN, "x",
                    better="higher", note=f"rounds ranged {vx.get('min')}..{vx.get('max')}"))
    for meth, how in (("ila", "programs at XDP"), ("ila_tc", "container and uplink programs at tc")):
        ila = ((tc or {}).get("methods") or {}).get(meth, {})
        t.append(target(f"container-to-container TCP throughput, ILA ({how}): fraction of plain "
                        "routing (median of per-repetition ratios)", ila.get("of_plain"),
                        TARGET_TCP_OF_PLAIN, "x", better="higher",
                        note=f"repetitions ranged {ila.get('of_plain_min')}..{ila.get('of_plain_max')}"))
    return t


def fmt(x, unit=""):
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    if isinstance(x, float):
        return f"{x:.1f}{unit}"
    return f"{x}{unit}"


def generator_line(v):
    """How a live or compare figure was made, in one line."""
    g = v.get("generator", "live_frames")
    if g == "live_frames":
        return ("BPF_PROG_RUN live frames (bench_refresh -> program on the generator's CPU); "
                "figures are packets/s")
    ceiling = v.get("generator_ceiling_pps")
    text = (f"{g} from the veth's far end, the ingress NAPI as a thread on the other CPU; the "
            f"generator's own ceiling (-> XDP_DROP at the ingress) "
            f"{fmt(None if ceiling is None else round(ceiling / 1e6, 3))} Mpps")
    if v.get("basis") == "cpu_time_at_fixed_rate":
        return (text + "; the ceiling is under 1.5x the bare redirect, so every figure (and "
                "ratio) is the CPU time per packet of the path's thread at "
                f"{fmt(v.get('offered_pps_cpu_rounds'))} frames/s, shown as packets per "
                "second of that core")
    return (text + "; figures are packets/s delivered (CPU time per packet at "
            f"{fmt(v.get('offered_pps_cpu_rounds'))} frames/s is in results.json)")


def markdown(res):
    L = []
    m = res["machine"]
    L.append(f"Machine: {m.get('cpu_model')} ({m.get('num_cpus')} CPUs, {m.get('mhz_per_cpu')} MHz), "
             f"kernel {m.get('kernel')}, VM: {m.get('hypervisor') or 'no'}; "
             f"SRSO: {m.get('mitigations', {}).get('spec_rstack_overflow', '?')}. Mode: {res['mode']}.")
    L.append("")
    if res.get("not_measured"):
        L.append("### Not measured on this machine (kernel features it lacks; `ilactl probe`)")
        L.append("")
        for n in res["not_measured"]:
            L.append(f"- {n}")
        L.append("")
    L.append("### Per-packet cost (BPF_PROG_TEST_RUN, ns/packet, median)")
    L.append("")
    L.append("| path | refresh | over empty | call | over empty |")
    L.append("|---|---:|---:|---:|---:|")
    for c, row in res["per_packet"].items():
        r, cl = row["refresh"], row["call"]
        L.append(f"| {c} | {fmt(r['median_ns'])} | {fmt(r['over_empty_ns'])} | {fmt(cl['median_ns'])} | "
                 f"{fmt(cl['over_empty_ns'])} |")
    L.append("")
    L.append("### Cost against table size (from_container remote, neutral-map-auto; ns/packet over "
             "the empty program, refresh / call)")
    L.append("")
    L.append("| mappings | load (s) | ILA hot | ILA uniform | plain hash hot | plain hash uniform "
             "| slots hot | slots uniform | slot probes: mean, max |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, v in res["scale"].items():
        def cell(dist, prog):
            d = v.get(dist, {}).get(prog, {})
            return (f"{fmt(d.get('refresh', {}).get('over_empty_ns'))} / "
                    f"{fmt(d.get('call', {}).get('over_empty_ns'))}")
        st = v.get("slots_table", {})
        L.append(f"| {int(size):,} | {fmt(v.get('load_seconds'))} | {cell('hot', 'ila')} | "
                 f"{cell('uniform', 'ila')} | {cell('hot', 'plain_hash')} | {cell('uniform', 'plain_hash')} "
                 f"| {cell('hot', 'slots')} | {cell('uniform', 'slots')} "
                 f"| {fmt(st.get('mean_probes'))}, {fmt(st.get('max_probes'))} |")
    L.append("")
    L.append("### Live traffic (counted at the sink)")
    L.append("")
    for d, v in res["live"].items():
        L.append(f"- {d}: {generator_line(v)}")
    L.append("")
    L.append("| direction | method | Mpps (median of rounds) | ns/packet | delivered | "
             "path CPU ns/packet at a fixed rate (real traffic) |")
    L.append("|---|---|---:|---:|---:|---:|")
    for d, v in res["live"].items():
        for meth, x in sorted(v["methods"].items()):
            mpps = None if x["pps"] is None else round(x["pps"] / 1e6, 3)
            L.append(f"| {d} | {meth} | {fmt(mpps)} | {fmt(x['ns_per_packet'])} | "
                     f"{fmt(x['delivered_fraction'])} | {fmt(x.get('cpu_ns_per_packet'))} |")
    L.append("")
    L.append("| direction | ILA (neutral-map-auto) / bare redirect | ILA / kernel forwarding | rounds |")
    L.append("|---|---:|---:|---:|")
    for d, v in res["live"].items():
        oc, ok = v["of_ceiling"], v["over_kernel_forward"]
        L.append(f"| {d} | {oc['median']} ({oc['min']}–{oc['max']}) | {ok['median']} "
                 f"({ok['min']}–{ok['max']}) | {fmt(v['rounds'])} |")
    L.append("")
    st = [(d, v["steered_over_direct"]) for d, v in res["live"].items() if "steered_over_direct" in v]
    if st:
        L.append("| direction | cpumap steering on / off (ila_steered / ila) | steering CPUs | "
                 "translated off the generator's CPU |")
        L.append("|---|---:|---:|---:|")
        for d, x in st:
            L.append(f"| {d} | {x['median']} ({x['min']}–{x['max']}) | {fmt(x['steer_cpus'])} | "
                     f"{fmt(x['translated_off_generator_cpu'])} |")
        L.append("")
    cp = res.get("compare") or {}
    if cp:
        L.append("### ILA against the alternatives (live from_container, same rounds)")
        L.append("")
        L.append(f"Generator: {generator_line(cp)}")
        L.append("")
        L.append("| method | Mpps (median of rounds) | ns/packet | delivered | of expected kind | "
                 "path CPU ns/packet at a fixed rate (real traffic) |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for meth, x in sorted(cp["methods"].items(), key=lambda kv: -(kv[1]["pps"] or 0)):
            mpps = None if x["pps"] is None else round(x["pps"] / 1e6, 3)
            L.append(f"| {meth} | {fmt(mpps)} | {fmt(x['ns_per_packet'])} | "
                     f"{fmt(x['delivered_fraction'])} | {fmt(x['of_expected_kind'])} | "
                     f"{fmt(x.get('cpu_ns_per_packet'))} |")
        L.append("")
        L.append("| ratio (ILA neutral-map-auto over) | median of rounds | range |")
        L.append("|---|---:|---|")
        for k, x in cp["ratios"].items():
            L.append(f"| {k} | {x['median']} | {x['min']}–{x['max']} |")
        L.append("")
    tc = res.get("tcp") or {}
    if tc:
        L.append(f"### Container to container, two hosts (iperf3 {fmt(tc.get('seconds_per_run'))} s "
                 f"x {fmt(tc.get('runs_per_method'))}, ping x {fmt(tc.get('pings_per_run'))} per run)")
        L.append("")
        L.append("| method | Gbit/s (median) | range | of plain (median, range) | RTT p50 µs | "
                 "RTT p99 µs | retransmits | veth drops | sender TSO |")
        L.append("|---|---:|---|---:|---:|---:|---:|---:|---|")
        for m, x in tc["methods"].items():
            L.append(f"| {m} | {x['gbit_per_s']} | {x['gbit_per_s_min']}–{x['gbit_per_s_max']} | "
                     f"{x['of_plain']} ({x['of_plain_min']}–{x['of_plain_max']}) | {fmt(x['rtt_us_p50'])} | "
                     f"{fmt(x['rtt_us_p99'])} | {fmt(x['retransmits'])} | {fmt(x['veth_drops'])} | "
                     f"{'on' if x['sender_tso'] else 'off'} |")
        L.append("")
        dp = tc.get("ila_dataplane") or {}
        if "ila_of_plain_no_offload_medians" in tc:
            L.append(f"ILA / plain routing with the same sender offloads (medians): "
                     f"{tc['ila_of_plain_no_offload_medians']}.")
            L.append("")
        L.append(f"During the ila runs the data planes translated {fmt(dp.get('tx_remote'))} packets "
                 f"towards the other host, delivered {fmt(dp.get('rx_delivered'))} and passed "
                 f"{fmt(dp.get('passed'))} to the kernel.")
        L.append("")
    L.append("### Control plane")
    L.append("")
    L.append("| operation | ops/s | time | bytes/mapping |")
    L.append("|---|---:|---:|---:|")
    for k, v in res["control"].items():
        tm = (f"{v['seconds']} s" if "seconds" in v else f"{v['us_per_op']} µs/op" if "us_per_op" in v
              else f"{v['ms_per_batch']} ms/batch" if "ms_per_batch" in v else "–")
        L.append(f"| {k} | {fmt(v.get('ops_per_second'))} | {tm} | {fmt(v.get('bytes_per_mapping'))} |")
    L.append("")
    L.append("### Targets")
    L.append("")
    L.append("| target | limit | measured | met |")
    L.append("|---|---:|---:|---|")
    for t in res["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else f"no ({t['missed_by']})")
        L.append(f"| {t['target']} | {t['limit']} {t['unit']} | {fmt(t['measured'])} | {met} |")
    L.append("")
    return "\n".join(L)


def plot(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (apt-get install python3-matplotlib): no plot"
    tc = (res.get("tcp") or {}).get("methods") or {}
    fig, axes = plt.subplots(1, 3 if tc else 2, figsize=(19 if tc else 13, 5.5),
                             gridspec_kw={"width_ratios": [2, 1, 1] if tc else [2, 1]})
    a, b = axes[0], axes[1]
    labels, values, colors = [], [], []
    palette = {"ila": "#1f77b4", "ila_steered": "#17becf", "bare_redirect": "#2ca02c",
               "kernel_forward": "#d62728", "vxlan": "#ff7f0e", "srv6_encap": "#9467bd",
               "srv6_encap_red": "#8c564b", "plain": "#d62728", "plain_no_offload": "#e377c2"}
    groups = list(res["live"].items())
    if res.get("compare"):
        groups.append(("compare\n(from_container)", res["compare"]))
    for d, dv in groups:
        for meth, v in sorted(dv["methods"].items()):
            if v["pps"] is None:
                continue
            labels.append(f"{d}\n{meth}")
            values.append(v["pps"] / 1e6)
            colors.append(palette.get(meth.split("/")[0], "#7f7f7f"))
    a.bar(range(len(values)), values, color=colors)
    a.set_xticks(range(len(values)))
    a.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    a.set_ylabel("Mpps delivered (one core)")
    a.set_title("Live traffic: packets/s per method")
    for series, style in (("ila", "o-"), ("plain_hash", "s--"), ("slots", "^:")):
        for dist, color in (("hot", "#1f77b4"), ("uniform", "#d62728")):
            xs, ys = [], []
            for size, v in res["scale"].items():
                y = v.get(dist, {}).get(series, {}).get("refresh", {}).get("over_empty_ns")
                if y is not None:
                    xs.append(int(size))
                    ys.append(y)
            if xs:
                b.plot(xs, ys, style, color=color, label=f"{series} {dist}")
    b.axhline(TARGET_UNIFORM_1M_NS, color="grey", ls=":", label="target 250 ns (1M uniform)")
    b.axhline(TARGET_PROGRAM_COST_NS, color="black", ls=":", label="target 40 ns (hot)")
    b.set_xscale("log")
    b.set_xlabel("mappings in the table")
    b.set_ylabel("ns/packet over the empty program")
    b.set_title("Cost against table size (refresh method)")
    b.legend(fontsize=7)
    if tc:
        c = axes[2]
        names = list(tc)
        c.bar(range(len(names)), [tc[n]["gbit_per_s"] for n in names],
              color=[palette.get(n, "#7f7f7f") for n in names])
        c.set_xticks(range(len(names)))
        c.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        c.set_ylabel("Gbit/s (iperf3, median)")
        c.set_title("Container to container TCP, two hosts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    benches, context, errors, not_measured = load(args.raw)
    if not benches:
        print("report.py: no benchmark results found in " + args.raw, file=sys.stderr)
        return 1
    pp, sc, lv, ct = per_packet(benches), scale(benches), live(benches), control(benches)
    cp, tc = compare(benches), tcp(benches)
    res = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": context.get("ila_bench_mode", "full"),
        "machine": machine(context),
        "methodology": {
            "refresh": "repeat=N in one BPF_PROG_TEST_RUN; bench_refresh restores the frame "
                       "(Ethernet+IPv6 header, transport checksum) and tail-calls the program; time "
                       "= kernel's mean per repetition, median over calls; 'over empty' subtracts "
                       "refresh->empty",
            "call": "repeat=1 per call (the kernel copies a fresh frame in every call); time = the "
                    "kernel's duration of that one run, median over calls",
            "live": "BPF_F_TEST_XDP_LIVE_FRAMES, generator bench_refresh -> program, counted by an "
                    "XDP sink on the egress veth's peer; one core; methods alternate in bursts, ratios "
                    "per round, medians reported; ila_steered: the uplink with cpumap steering to "
                    "the other CPU(s)",
            "compare": "live from_container on the same topology and in the same rounds: VXLAN "
                       "over IPv6, SRv6 encap and encap.red done by the host kernel on the "
                       "untranslated frame (XDP_PASS); the sink checks the outer headers",
            "tcp": "two hosts, one container each, a fabric namespace, veths (MTU 1500); iperf3 "
                   "throughput and ping RTTs container to container per method, methods rotated "
                   "within each repetition, ratios to plain routing per repetition; encapsulations "
                   "get a container route MTU of 1500 minus their headers",
            "checks": checks(benches),
        },
        "per_packet": pp,
        "scale": sc,
        "live": lv,
        "compare": cp,
        "tcp": tc,
        "control": ct,
        "targets": targets(pp, sc, lv, ct, cp, tc),
        "errors": errors,
        "not_measured": not_measured,
        "benchmarks": benches,
    }
    text = json.dumps(res, indent=2, sort_keys=False, allow_nan=False)
    json.loads(text)  # valid JSON or an exception
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        f.write(text + "\n")
    md = markdown(res)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(md)
    note = plot(res, os.path.join(args.out, "performance.png"))
    if note:
        print("report.py: " + note, file=sys.stderr)
    print(md)
    for e in errors:
        print("report.py: benchmark error: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

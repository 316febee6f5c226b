#!/usr/bin/env python3
"""Render bench/run.sh results (results.jsonl + meta.jsonl) as Markdown: tables, then every
issue-11 target (and the memory-after-load one) as PASS, FAIL or SKIP with the figures of this run."""
import json
import sys

results = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = {}
for line in open(sys.argv[2]) if len(sys.argv) > 2 else []:
    if line.strip():
        meta.update(json.loads(line))
notes = {k[5:]: v for k, v in meta.items() if k.startswith("note:")}
by = {(r["target"], r["mode"], r["c"]): r for r in results}
targets = [t for t in ("direct", "nginx", "gateway") if any(r["target"] == t for r in results)]

# Thresholds (issue 11 / SPEC §11, issue 12 item 3).
JSON_CPU_US = 25
TRANSLATED_RATIO = 0.7
TRANSLATED_CPU_US = 60
SCALE_RSS_MB = 100
GAP_EXCESS_MS = 2.0
RETURNED_FACTOR = 2.0  # RSS after load and a quiet spell < 2× the idle RSS


def served(r):
    """Requests the server handled inside the CPU window (measured ones plus the warm-up)."""
    L = r["load"]
    return L["ok"] + L["non_2xx"] + L.get("warmup_requests", 0)


def cpu_us(r):
    n = served(r)
    return r["cpu_ticks"] / r["clk_tck"] * 1e6 / n if n else float("nan")


def cpu_us_chunk(r):
    ev = r["load"].get("events", 0)
    # Warm-up streams carry as many events as measured ones.
    ev_all = ev * served(r) / max(1, r["load"]["ok"] + r["load"]["non_2xx"])
    return r["cpu_ticks"] / r["clk_tck"] * 1e6 / ev_all if ev else float("nan")


def f(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def errs(r):
    return r["load"]["errors"] + r["load"]["non_2xx"]


out = ["# cliproxy benchmark", ""]
out.append(
    f"{meta.get('date', '')} · commit {meta.get('commit', '?')} · {meta.get('nproc', '?')} cores · "
    f"load average at the end {meta.get('loadavg', '?')} · {meta.get('duration_s', '?')} s per run · "
    f"nginx {meta.get('nginx') or 'n/a'} · loopback"
)
for k, v in notes.items():
    out.append(f"- **{k}**: {v}")
out += ["", "CPU µs/req is the process under test (direct: the stand-in itself; nginx: master+workers; "
        "gateway: cliproxy): utime+stime over the run / requests served, warm-up included.", ""]

TITLES = {"nonstream": "Pass-through JSON (Anthropic `/v1/messages`)",
          "stream": "Pass-through stream (Anthropic `/v1/messages`, 20 deltas)"}
for mode in ("nonstream", "stream"):
    concs = sorted({r["c"] for r in results if r["mode"] == mode})
    if not concs:
        continue
    streamed = mode == "stream"
    out += [f"## {TITLES[mode]}", ""]
    hdr = "| target | conns | req/s | ×direct | ×nginx | p50 ms | p99 ms | +p50 vs direct | +p99 vs direct |"
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if streamed:
        hdr += " TTFB p50 ms | +TTFB vs direct |"
        sep += "---:|---:|"
    hdr += " CPU µs/req | RSS max MB | errors |"
    sep += "---:|---:|---:|"
    out += [hdr, sep]
    for c in concs:
        d, n = by.get(("direct", mode, c)), by.get(("nginx", mode, c))
        for t in targets:
            r = by.get((t, mode, c))
            if not r:
                continue
            L = r["load"]
            row = [t, str(c), f"{L['rps']:.0f}"]
            row.append(f(L["rps"] / d["load"]["rps"]) if d and d["load"]["rps"] else "–")
            row.append(f(L["rps"] / n["load"]["rps"]) if n and n["load"]["rps"] and t != "nginx" else "–")
            row += [f(L["latency_ms"]["p50"], 3), f(L["latency_ms"]["p99"], 3)]
            if d and t != "direct":
                row += [f(L["latency_ms"]["p50"] - d["load"]["latency_ms"]["p50"], 3),
                        f(L["latency_ms"]["p99"] - d["load"]["latency_ms"]["p99"], 3)]
            else:
                row += ["–", "–"]
            if streamed:
                row.append(f(L["ttfb_ms"]["p50"], 3))
                row.append(f(L["ttfb_ms"]["p50"] - d["load"]["ttfb_ms"]["p50"], 3) if d and t != "direct" else "–")
            row += [f(cpu_us(r), 1), f(r["rss_max_kb"] / 1024, 1), str(errs(r))]
            out.append("| " + " | ".join(row) + " |")
    out.append("")

paced = [r for r in results if r["mode"] == "stream-paced"]
if paced:
    out += ["## SSE pacing (10 deltas, 5 ms apart, 1 connection)", "",
            "| target | gap mean ms | gap p50 ms | gap p99 ms | gap max ms | TTFB p50 ms |", "|---|---:|---:|---:|---:|---:|"]
    for r in paced:
        g = r["load"]["gaps_ms"] or {}
        out.append(f"| {r['target']} | {f(g.get('mean'))} | {f(g.get('p50'))} | {f(g.get('p99'))} | {f(g.get('max'))} | {f(r['load']['ttfb_ms']['p50'], 3)} |")
    out.append("")

tr = [r for r in results if r["mode"].startswith("tr-")]


def baseline(r):
    """nginx passing the upstream's own request through (Codex only streams: its stream)."""
    _, cl, up, kind = r["mode"].split("-")
    if up == "codex":
        kind = "stream"
    return by.get(("nginx", f"base-{up}-{kind}", r["c"]))


if tr:
    out += ["## Translated requests", "",
            "Client dialect → upstream dialect through the gateway; baseline: nginx passing the upstream's own request to the same stand-in.", "",
            "| client → upstream | kind | conns | req/s | nginx baseline req/s | ×nginx | p50 ms | CPU µs/req | events/req | CPU µs/event | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in tr:
        _, cl, up, kind = r["mode"].split("-")
        b = baseline(r)
        L = r["load"]
        epr = L.get("events", 0) / L["ok"] if L["ok"] else 0
        out.append(f"| {cl} → {up} | {kind} | {r['c']} | {L['rps']:.0f} | {f(b['load']['rps'], 0) if b else '–'} | "
                   f"{f(L['rps'] / b['load']['rps']) if b and b['load']['rps'] else '–'} | {f(L['latency_ms']['p50'], 3)} | "
                   f"{f(cpu_us(r), 1)} | {f(epr, 1) if kind == 'stream' else '–'} | {f(cpu_us_chunk(r), 1) if kind == 'stream' else '–'} | {errs(r)} |")
    out.append("")

tls = [r for r in results if r["target"] == "gateway-tls"]
if tls:
    out += ["## TLS upstream (stand-in over HTTPS, root trusted through SSL_CERT_FILE)", "",
            "| kind | conns | req/s | p50 ms | +p50 vs plain gateway | CPU µs/req | +CPU µs vs plain | upstream conns so far | requests | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in tls:
        p = by.get(("gateway", r["mode"], r["c"]))
        L = r["load"]
        u = meta.get("tls_upstream_conns:%s:%s" % (r["mode"], r["c"]))
        conns = f"{u['open']} (+{u['closed']} closed)" if u else "–"
        out.append(f"| {r['mode']} | {r['c']} | {L['rps']:.0f} | {f(L['latency_ms']['p50'], 3)} | "
                   f"{f(L['latency_ms']['p50'] - p['load']['latency_ms']['p50'], 3) if p else '–'} | {f(cpu_us(r), 1)} | "
                   f"{f(cpu_us(r) - cpu_us(p), 1) if p else '–'} | {conns} | {served(r)} | {errs(r)} |")
    out.append("")

scale = {r["target"]: r for r in results if r["mode"] == "scale-streams"}
idle = next((r for r in results if r["mode"] == "scale-idle"), None)
if scale or idle:
    sp = meta.get("scale_spacing_ms", 5)
    out += [f"## Scale: {meta.get('scale_streams', '?')} streams, a delta every {sp} ms, {meta.get('scale_duration_s', '?')} s", "",
            "Gap: time between consecutive server-sent events as the client read them (events read together count 0 ms).", "",
            "| target | streams done | errors | events | gap p50 ms | gap p99 ms | gap p99.9 ms | gap max ms | p99 − spacing ms | RSS max MB | CPU µs/event | load generator CPU s / run s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in ("direct", "gateway"):
        r = scale.get(t)
        if not r:
            continue
        g, L = r["load"]["gaps_ms"], r["load"]
        out.append(f"| {t} | {L['ok']} | {errs(r)} | {L.get('events', 0)} | {f(g['p50'])} | {f(g['p99'])} | {f(g['p999'])} | {f(g['max'])} | "
                   f"{f(g['p99'] - sp)} | {f(r['rss_max_kb'] / 1024, 1)} | {f(cpu_us_chunk(r), 2)} | "
                   f"{f(L.get('client_cpu_s'), 1)} / {f(L['elapsed_s'], 1)} |")
    out.append("")
    if idle:
        L = idle["load"]
        out += [f"Idle keep-alive connections: {L['opened']} of {L['wanted']} opened in {L['open_s']:.1f} s, "
                f"{L['held']} still answered after {L['hold_s']:.0f} s idle; gateway RSS {idle['rss_held_kb'] / 1024:.1f} MB "
                f"and {idle['fds_held']} open files while they were held.", ""]
    mem = [("idle (after one stream)", "scale_idle_rss_kb", None),
           ("1 s after the streams", "scale_after_streams_rss_kb", None),
           (f"{meta.get('scale_early_s', '?')} s after the idle connections closed", "scale_early_rss_kb", "scale_early_fds"),
           (f"{meta.get('scale_settle_s', '?')} s after the idle connections closed", "scale_after_load_rss_kb", "scale_after_load_fds")]
    out += ["| gateway | RSS MB | open files |", "|---|---:|---:|"]
    if idle:
        mem.insert(2, None)
    for m in mem:
        if m is None:
            out.append(f"| while {idle['load']['opened']} idle connections were held | {idle['rss_held_kb'] / 1024:.1f} | {idle['fds_held']} |")
        elif m[1] in meta:
            out.append(f"| {m[0]} | {meta[m[1]] / 1024:.1f} | {meta.get(m[2], '–') if m[2] else '–'} |")
    out.append("")

# --- targets ---------------------------------------------------------------------------------------
checks = []


def check(name, ok, detail):
    checks.append((name, "PASS" if ok else "FAIL", detail))


def skip(name, why):
    checks.append((name, "SKIP", why))


NO_NGINX = notes.get("nginx", "nginx not measured")
if "gateway" not in targets:
    skip("every gateway target", notes.get("gateway", "gateway not measured"))
else:
    for mode, label in (("nonstream", "pass-through JSON"), ("stream", "pass-through stream")):
        g, n = by.get(("gateway", mode, 64)), by.get(("nginx", mode, 64))
        name = f"{label}: throughput at 64 conns ≥ 1.0× nginx"
        if g and n and n["load"]["rps"]:
            ratio = g["load"]["rps"] / n["load"]["rps"]
            check(name, ratio >= 1.0 and errs(g) == 0, f"{ratio:.2f}× ({g['load']['rps']:.0f} vs {n['load']['rps']:.0f} req/s), {errs(g)} errors")
        else:
            skip(name, "no 64-connection run" if "nginx" in targets else NO_NGINX)
        for c in (1, 16):
            g, n, d = (by.get((t, mode, c)) for t in ("gateway", "nginx", "direct"))
            for p in ("p50", "p99"):
                name = f"{label}: added {p} at {c} conn{'s' if c > 1 else ''} ≤ nginx's"
                if g and n and d:
                    ga = g["load"]["latency_ms"][p] - d["load"]["latency_ms"][p]
                    na = n["load"]["latency_ms"][p] - d["load"]["latency_ms"][p]
                    check(name, ga <= na, f"gateway +{ga:.3f} ms, nginx +{na:.3f} ms")
                else:
                    skip(name, f"no {c}-connection run" if "nginx" in targets else NO_NGINX)
    runs = [r for r in results if r["target"] == "gateway" and r["mode"] == "nonstream"]
    if runs:
        worst = max(cpu_us(r) for r in runs)
        detail = ", ".join("%d conns %.1f" % (r["c"], cpu_us(r)) for r in runs)
        check(f"pass-through JSON: CPU ≤ {JSON_CPU_US} µs/request", worst <= JSON_CPU_US, f"worst {worst:.1f} µs ({detail})")
    for r in (r for r in results if r["target"] == "gateway" and r["mode"] == "stream"):
        n = by.get(("nginx", "stream", r["c"]))
        name = f"pass-through stream: CPU per streamed request ≤ nginx's ({r['c']} conns)"
        if n:
            check(name, cpu_us(r) <= cpu_us(n), f"gateway {cpu_us(r):.1f} µs, nginx {cpu_us(n):.1f} µs")
        else:
            skip(name, NO_NGINX)
    for r in tr:
        _, cl, up, kind = r["mode"].split("-")
        b = baseline(r)
        name = f"translated {cl} → {up} {kind}: throughput ≥ {TRANSLATED_RATIO}× nginx pass-through ({r['c']} conns)"
        if b and b["load"]["rps"]:
            ratio = r["load"]["rps"] / b["load"]["rps"]
            check(name, ratio >= TRANSLATED_RATIO and errs(r) == 0, f"{ratio:.2f}× ({r['load']['rps']:.0f} vs {b['load']['rps']:.0f} req/s), {errs(r)} errors")
        else:
            skip(name, NO_NGINX)
        if kind == "json":
            check(f"translated {cl} → {up} json: CPU ≤ {TRANSLATED_CPU_US} µs/request", cpu_us(r) <= TRANSLATED_CPU_US, f"{cpu_us(r):.1f} µs")
        else:
            epr = r["load"].get("events", 0) / max(1, r["load"]["ok"])
            check(f"translated {cl} → {up} stream: CPU ≤ {TRANSLATED_CPU_US} µs/request (per chunk reported)",
                  cpu_us(r) <= TRANSLATED_CPU_US, f"{cpu_us(r):.1f} µs/request, {cpu_us_chunk(r):.2f} µs per event ({epr:.0f} events/request)")
    if not tr:
        skip("translated requests", "not run (BENCH_TRANSLATED=0)")

    if "tls_skip" in meta:
        skip("TLS: what TLS adds per request", meta["tls_skip"])
    elif tls:
        cmax, total = 0, 0
        # Each serving thread (one per core) keeps its own pool and HTTP/1.1 carries one
        # request at a time, so a thread may need as many connections as requests in flight.
        threads = int(meta.get("nproc", 1))
        for r in tls:
            p = by.get(("gateway", r["mode"], r["c"]))
            cmax, total = max(cmax, r["c"]), total + served(r)
            u = meta.get(f"tls_upstream_conns:{r['mode']}:{r['c']}")
            name = (f"TLS {r['mode']} at {r['c']} conns: one handshake per pooled connection "
                    f"(upstream connections opened ≤ serving threads × most concurrent requests so far + 1)")
            if u is not None:
                opened = u["open"] + u["closed"]
                check(name, errs(r) == 0 and opened <= threads * cmax + 1,
                      f"{opened} opened ≤ {threads} × {cmax} + 1 ({u['open']} open, {u['closed']} closed, "
                      f"one of them the readiness check) for {total} requests so far, {errs(r)} errors")
            if p:
                checks.append((f"TLS {r['mode']} at {r['c']} conns: what TLS adds per request", "INFO",
                               f"+{r['load']['latency_ms']['p50'] - p['load']['latency_ms']['p50']:.3f} ms p50, "
                               f"+{cpu_us(r) - cpu_us(p):.1f} µs CPU (TLS {cpu_us(r):.1f}, plain {cpu_us(p):.1f})"))
    else:
        skip("TLS: what TLS adds per request", "not run (BENCH_TLS=0)")

g = scale.get("gateway") if (scale or idle) else None
if g:
    n = meta.get("scale_streams", g["c"])
    check(f"{n} slow streams: RSS < {SCALE_RSS_MB} MB", g["rss_max_kb"] / 1024 < SCALE_RSS_MB, f"peak {g['rss_max_kb'] / 1024:.1f} MB")
    sp = meta.get("scale_spacing_ms", 5)
    ex = g["load"]["gaps_ms"]["p99"] - sp
    d = scale.get("direct")
    dd = f"; direct to the stand-in {d['load']['gaps_ms']['p99'] - sp:.2f} ms" if d else ""
    check(f"{n} slow streams: p99 of (inter-chunk gap − {sp} ms) ≤ {GAP_EXCESS_MS} ms", ex <= GAP_EXCESS_MS and errs(g) == 0,
          f"{ex:.2f} ms through the gateway{dd}; {errs(g)} errors")
elif "scale" in notes:
    skip("slow streams", notes["scale"])
if idle:
    L = idle["load"]
    check(f"{L['wanted']} idle keep-alive connections held", L["held"] == L["wanted"],
          f"{L['held']} of {L['wanted']} answered after {L['hold_s']:.0f} s idle (opened {L['opened']})")
elif scale:
    skip("idle keep-alive connections held", notes.get("scale-idle", "not run"))
if "scale_after_load_rss_kb" in meta and "scale_idle_rss_kb" in meta:
    idle_mb, after_mb = meta["scale_idle_rss_kb"] / 1024, meta["scale_after_load_rss_kb"] / 1024
    peaks = ([g["rss_max_kb"] / 1024] if g else []) + ([idle["rss_held_kb"] / 1024] if idle else [])
    peak = max(peaks, default=0)
    check(f"memory returned after load: RSS {meta.get('scale_settle_s', '?')} s later < {RETURNED_FACTOR:g}× idle",
          after_mb < RETURNED_FACTOR * idle_mb and meta.get("scale_alive", True),
          f"{after_mb:.1f} MB after (idle {idle_mb:.1f} MB, peak {peak:.1f} MB)")

# Other SPEC §11 budgets the earlier report carried.
if "gateway" in targets:
    g1, d1 = by.get(("gateway", "stream", 1)), by.get(("direct", "stream", 1))
    if g1 and d1:
        add = g1["load"]["ttfb_ms"]["p50"] - d1["load"]["ttfb_ms"]["p50"]
        check("SSE added TTFB < 0.3 ms (1 conn, p50)", add < 0.3, f"+{add:.3f} ms")
    gp = next((r for r in paced if r["target"] == "gateway"), None)
    dp = next((r for r in paced if r["target"] == "direct"), None)
    if gp and dp and gp["load"]["gaps_ms"] and dp["load"]["gaps_ms"]:
        gm, dm = gp["load"]["gaps_ms"], dp["load"]["gaps_ms"]
        check("5 ms-spaced stream keeps its spacing (1 conn)", abs(gm["p50"] - dm["p50"]) <= 1.0 and gm["max"] < 15,
              f"gap p50 {gm['p50']:.2f} ms (direct {dm['p50']:.2f}), max {gm['max']:.2f} ms")
    if "gateway_idle_rss_kb" in meta:
        mb = meta["gateway_idle_rss_kb"] / 1024
        check("idle RSS < 15 MB", mb < 15, f"{mb:.1f} MB")
    if "gateway_startup_ms" in meta:
        ms = meta["gateway_startup_ms"]
        check("start-up to listening < 50 ms", ms < 50, f"{ms} ms (spawn → first /healthz answer, polled every 10 ms)")

out += ["## Targets", "", "| target | result | measured |", "|---|---|---|"]
out += [f"| {n} | {s} | {d} |" for n, s, d in checks]
counts = {s: sum(1 for _, x, _ in checks if x == s) for s in ("PASS", "FAIL", "SKIP")}
out += ["", f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP", ""]
print("\n".join(out))

#!/usr/bin/env python3
"""Render bench/run.sh results (results.jsonl + meta.json) as Markdown with ratios and budget checks."""
import json
import sys

results = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
by = {(r["target"], r["mode"], r["c"]): r for r in results}
targets = [t for t in ("direct", "nginx", "gateway") if any(r["target"] == t for r in results)]


def cpu_us(r):
    n = r["load"]["ok"] + r["load"]["non_2xx"]
    return r["cpu_ticks"] / r["clk_tck"] * 1e6 / n if n else float("nan")


def f(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


out = ["# cliproxy benchmark", ""]
out.append(
    f"{meta.get('date', '')} · commit {meta.get('commit', '?')} · {meta.get('nproc', '?')} cores · "
    f"{meta.get('duration_s', '?')} s per run · nginx {meta.get('nginx') or 'n/a'} · loopback, Anthropic `/v1/messages`"
)
for k, v in (meta.get("notes") or {}).items():
    out.append(f"- **{k}**: {v}")
out.append("")
out.append("CPU µs/req is the process under test (direct: the stand-in itself; nginx: master+workers; gateway: cliproxy).")
out.append("")

TITLES = {
    "responses": "responses (Responses client → Claude; direct/nginx: the Anthropic request)",
    "responses-stream": "responses-stream (streamed, translated Anthropic → Responses)",
    "codex-stream": "codex-stream (Responses client → Codex, native; direct/nginx: the normalised Codex request)",
}
for mode in ("nonstream", "stream", "responses", "responses-stream", "codex-stream"):
    concs = sorted({r["c"] for r in results if r["mode"] == mode})
    if not concs:
        continue
    streamed = mode != "nonstream" and mode != "responses"
    out += [f"## {TITLES.get(mode, mode)}", ""]
    hdr = "| target | conns | req/s | ×direct | ×nginx | p50 ms | p99 ms | +p50 vs direct | +p99 vs direct |"
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if streamed:
        hdr += " TTFB p50 ms | +TTFB vs direct |"
        sep += "---:|---:|"
    hdr += " CPU µs/req | RSS max MB | errors |"
    sep += "---:|---:|---:|"
    out += [hdr, sep]
    for c in concs:
        d = by.get(("direct", mode, c))
        n = by.get(("nginx", mode, c))
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
            row += [f(cpu_us(r), 1), f(r["rss_max_kb"] / 1024, 1), str(L["errors"] + L["non_2xx"])]
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

gem = [r for r in results if r["mode"].startswith("gemini-")]
if gem:
    out += ["## Gemini (`/v1beta`, google-genai request shape)", "",
            "`gemini-*stream` go to a `gemini-api-key` model (native); `gemini-to-claude-stream` is the same",
            "client translated to the Claude key.", "",
            "| target | mode | conns | req/s | p50 ms | p99 ms | TTFB p50 ms | errors |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in gem:
        l = r["load"]
        out.append(f"| {r['target']} | {r['mode']} | {r['c']} | {l['rps']:.0f} | {f(l['latency_ms']['p50'], 3)} | {f(l['latency_ms']['p99'], 3)} | {f(l['ttfb_ms']['p50'], 3)} | {l['errors'] + l['non_2xx']} |")
    out.append("")

# Budget checks (SPEC §11) for the gateway.
checks = []


def check(name, ok, detail):
    checks.append(f"| {name} | {'PASS' if ok else 'FAIL'} | {detail} |")


if "gateway" in targets:
    for mode in ("nonstream", "stream"):
        g, n = by.get(("gateway", mode, 64)), by.get(("nginx", mode, 64))
        if g and n and n["load"]["rps"]:
            ratio = g["load"]["rps"] / n["load"]["rps"]
            check(f"{mode}: throughput at 64 conns ≥ nginx", ratio >= 1.0, f"{ratio:.2f}× nginx")
        for c in (1, 16):
            g, n, d = (by.get((t, mode, c)) for t in ("gateway", "nginx", "direct"))
            if g and n and d:
                for p in ("p50", "p99"):
                    ga = g["load"]["latency_ms"][p] - d["load"]["latency_ms"][p]
                    na = n["load"]["latency_ms"][p] - d["load"]["latency_ms"][p]
                    check(f"{mode}: added {p} at {c} conns ≤ nginx's", ga <= na, f"gateway +{ga:.3f} ms, nginx +{na:.3f} ms")
    runs = [r for r in results if r["target"] == "gateway" and r["mode"] in ("nonstream", "stream")]
    if runs:
        worst = max(cpu_us(r) for r in runs)
        detail = ", ".join("%s/c%d: %.1f" % (r["mode"], r["c"], cpu_us(r)) for r in runs)
        check("CPU per request ≤ 25 µs (pass-through)", worst <= 25, f"worst {worst:.1f} µs ({detail})")
    for mode in ("responses", "responses-stream", "codex-stream"):
        g, n = by.get(("gateway", mode, 64)), by.get(("nginx", mode, 64))
        if g and n and n["load"]["rps"]:
            ratio = g["load"]["rps"] / n["load"]["rps"]
            check(f"{mode}: throughput at 64 conns ≥ 0.7× nginx", ratio >= 0.7, f"{ratio:.2f}× nginx")
    translated = [r for r in results if r["target"] == "gateway" and r["mode"] in ("responses", "responses-stream", "codex-stream")]
    if translated:
        worst = max(cpu_us(r) for r in translated)
        detail = ", ".join("%s/c%d: %.1f" % (r["mode"], r["c"], cpu_us(r)) for r in translated)
        check("CPU per request ≤ 60 µs (translated)", worst <= 60, f"worst {worst:.1f} µs ({detail})")
    g, d = by.get(("gateway", "stream", 1)), by.get(("direct", "stream", 1))
    if g and d:
        add = g["load"]["ttfb_ms"]["p50"] - d["load"]["ttfb_ms"]["p50"]
        check("SSE added TTFB < 0.3 ms (1 conn, p50)", add < 0.3, f"+{add:.3f} ms")
    gp = next((r for r in paced if r["target"] == "gateway"), None)
    dp = next((r for r in paced if r["target"] == "direct"), None)
    if gp and dp and gp["load"]["gaps_ms"] and dp["load"]["gaps_ms"]:
        gm, dm = gp["load"]["gaps_ms"], dp["load"]["gaps_ms"]
        ok = abs(gm["p50"] - dm["p50"]) <= 1.0 and gm["max"] < 15
        check("5 ms-spaced stream keeps its spacing", ok, f"gap p50 {gm['p50']:.2f} ms (direct {dm['p50']:.2f}), max {gm['max']:.2f} ms")
    if meta.get("gateway_idle_rss_kb") is not None:
        mb = meta["gateway_idle_rss_kb"] / 1024
        check("idle RSS < 15 MB", mb < 15, f"{mb:.1f} MB")
    loaded = [r["rss_max_kb"] for r in runs]
    if loaded:
        check("RSS under load (64 conns) < 100 MB", max(loaded) / 1024 < 100, f"{max(loaded) / 1024:.1f} MB")
    if meta.get("gateway_startup_ms") is not None:
        ms = meta["gateway_startup_ms"]
        check("start-up to listening < 50 ms", ms < 50, f"{ms} ms (spawn → first /healthz answer, polled every 10 ms)")
if checks:
    out += ["## Budgets (SPEC §11)", "", "| budget | result | measured |", "|---|---|---|", *checks, ""]
else:
    out += ["## Budgets (SPEC §11)", "", "Gateway not measured in this run; see notes above.", ""]
print("\n".join(out))

#!/usr/bin/env python3
"""Folded stacks and a cost summary from `perf script` output (bench/profile.sh).

  perf script -i perf.data | bench/profile.py OUT.folded

Keeps the thread with the most samples (the serving thread of the longer run in
examples/allocs.rs), writes its stacks folded (`frame;frame;... count`, the input of
inferno-flamegraph or flamegraph.pl) and prints the inclusive share of the frames that
matter on the request path.
"""
import collections
import os
import re
import sys

GROUPS = [
    ("kernel: socket writes", r"__x64_sys_(sendto|sendmsg|write|writev)$"),
    ("kernel: socket reads", r"__x64_sys_(recvfrom|read|readv)$"),
    ("kernel: epoll_wait", r"__x64_sys_epoll_wait$"),
    ("kernel: futex (cross-thread wake-ups)", r"__x64_sys_futex$"),
    ("hyper h1 server (parse/encode)", r"hyper::proto::h1::role.*Server"),
    ("hyper server dispatch (whole request, inclusive)", r"hyper::proto::h1::dispatch::Dispatcher"),
    ("axum routing", r"axum::routing::Router<S>::call_with_state"),
    ("gate (admission, metrics, usage start)", r"cliproxy::server::gate::"),
    ("proxy::execute (request loop, inclusive)", r"cliproxy::server::proxy::execute"),
    ("providers: build request", r"cliproxy::providers::.*build"),
    ("h1 upstream client (src/providers/h1)", r"cliproxy::providers::h1::"),
    ("reqwest layer", r"^<?reqwest::"),
    ("serde_json", r"serde_json::"),
    ("translate", r"cliproxy::translate::"),
    ("signature scanner (affinity)", r"SignatureScanner|cliproxy::server::affinity::"),
    ("metrics (prometheus)", r"metrics_exporter_prometheus|^<?metrics::|cliproxy::server::metrics::"),
    ("usage tap and recorder", r"cliproxy::usage::|usage_tap"),
    ("tracing", r"tracing_core::|tracing_subscriber|^<?tracing::"),
    ("tokio scheduler and timers", r"tokio::runtime::(scheduler|time)::"),
    ("HeaderMap", r"http::header::map"),
    ("malloc/free", r"^(malloc|free|_int_malloc|_int_free|realloc|cfree|__libc_malloc|"
     r"__GI___libc_malloc|__GI___libc_free|__libc_free|_int_realloc|malloc_consolidate|"
     r"unlink_chunk|tcache_get|_rjem_\w+|do_rallocx)$"),
    ("memcpy/memmove", r"__memmove|__memcpy|^memcpy"),
]


def main():
    out_path = sys.argv[1]
    stacks = collections.Counter()
    per_tid = collections.Counter()
    tid, frames = None, []

    def flush():
        if tid is not None and frames:
            stacks[(tid, ";".join(reversed(frames)))] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            tid, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            m = re.match(r"^(.*?)\s+(\d+)(?:/(\d+))?\s+[\d.]+:", line)
            tid = (m.group(3) or m.group(2)) if m else None
            frames = []
            per_tid[tid] += 1
            continue
        parts = line.strip().split(" ", 1)
        sym = parts[1] if len(parts) > 1 else parts[0]
        sym = re.sub(r"\+0x[0-9a-f]+", "", sym)
        sym = re.sub(r" \([^()]*\)$", "", sym)
        frames.append(sym)
    flush()
    if not per_tid:
        sys.exit("no samples")
    # PROFILE_ALL_THREADS=1 (bench/profile-live.sh): every thread of the process, as the
    # gateway serves on one thread per core.
    all_threads = os.environ.get("PROFILE_ALL_THREADS") == "1"
    busiest = per_tid.most_common(1)[0][0]
    total = 0
    inclusive = collections.Counter()
    self_cost = collections.Counter()
    patterns = [(name, re.compile(p)) for name, p in GROUPS]
    with open(out_path, "w") as out:
        for (t, stack), n in stacks.items():
            if t != busiest and not all_threads:
                continue
            out.write(f"{stack} {n}\n")
            total += n
            fr = stack.split(";")
            self_cost[fr[-1]] += n
            for name, p in patterns:
                if any(p.search(f) for f in fr):
                    inclusive[name] += n
    where = "in all threads" if all_threads else "on the serving thread"
    print(f"{total} samples {where} (inclusive share; groups overlap)")
    for name, _ in GROUPS:
        if inclusive[name]:
            print(f"  {100 * inclusive[name] / total:5.1f}%  {name}")
    print("top self cost:")
    for sym, n in self_cost.most_common(12):
        print(f"  {100 * n / total:5.1f}%  {sym[:110]}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Folded stacks and a cost summary from `perf script` output (bench/profile.sh).

  perf script -i perf.data | bench/profile.py OUT.folded

Keeps the thread with the most samples (the serving thread of the longer run in
examples/allocs.rs), writes its stacks folded (`frame;frame;... count`, the input of
inferno-flamegraph or flamegraph.pl) and prints the inclusive share of the frames that
matter on the request path.
"""
import collections
import re
import sys

GROUPS = [
    ("kernel: socket writes", r"__x64_sys_(sendto|sendmsg|write|writev)$"),
    ("kernel: socket reads", r"__x64_sys_(recvfrom|read|readv)$"),
    ("kernel: epoll_wait", r"__x64_sys_epoll_wait$"),
    ("kernel: futex (cross-thread wake-ups)", r"__x64_sys_futex$"),
    ("hyper h1 server (parse/encode)", r"hyper::proto::h1::role.*Server"),
    ("hyper h1 client (parse/encode)", r"hyper::proto::h1::role.*Client"),
    ("reqwest layer", r"^<?reqwest::"),
    ("hyper-util legacy client", r"hyper_util::client::legacy"),
    ("serde_json", r"serde_json::"),
    ("translate", r"cliproxy::translate::"),
    ("metrics (prometheus)", r"metrics_exporter_prometheus|^<?metrics::"),
    ("usage tap and recorder", r"cliproxy::usage::|usage_tap"),
    ("tracing", r"tracing_core::|tracing_subscriber|^<?tracing::"),
    ("gate::admit (key, body)", r"cliproxy::server::gate::admit"),
    ("providers: build request", r"cliproxy::providers::.*build"),
    ("HeaderMap", r"http::header::map"),
    ("malloc/free", r"^(malloc|free|_int_malloc|_int_free|realloc|cfree|__libc_malloc|"
     r"__GI___libc_malloc|__GI___libc_free|__libc_free|_int_realloc|malloc_consolidate|"
     r"unlink_chunk|tcache_get)$"),
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
    busiest = per_tid.most_common(1)[0][0]
    total = 0
    inclusive = collections.Counter()
    self_cost = collections.Counter()
    patterns = [(name, re.compile(p)) for name, p in GROUPS]
    with open(out_path, "w") as out:
        for (t, stack), n in stacks.items():
            if t != busiest:
                continue
            out.write(f"{stack} {n}\n")
            total += n
            fr = stack.split(";")
            self_cost[fr[-1]] += n
            for name, p in patterns:
                if any(p.search(f) for f in fr):
                    inclusive[name] += n
    print(f"{total} samples on the serving thread (inclusive share; groups overlap)")
    for name, _ in GROUPS:
        if inclusive[name]:
            print(f"  {100 * inclusive[name] / total:5.1f}%  {name}")
    print("top self cost:")
    for sym, n in self_cost.most_common(12):
        print(f"  {100 * n / total:5.1f}%  {sym[:110]}")


if __name__ == "__main__":
    main()

"""The issue's targets and the Markdown report of ``bench_scale`` (from its JSON)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

MAX_RSS_MB = 2048  # 2 GB
MAX_DISK_PER_FACT = 10_000  # 10 KB


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def stopped(r: dict[str, Any] | None, *parts: str) -> list[str]:
    """Why a measuring process or one of its ``parts`` did not run to its end ([]: it did)."""
    if r is None:
        return ["not run"]
    out = [r[k] for k in ("killed", "error") if r.get(k)]
    if r.get("stopped"):
        out.append(str(r["stopped"]))
    out += [f"{p}: {_get(r, p, 'stopped')}" for p in parts if _get(r, p, "stopped")]
    out += [f"{p}: not run" for p in parts if p not in r]
    out += [f"{p}: {n} failed calls" for p in parts if (n := _get(r, p, "failed_calls"))]
    return out


def tenant_stops(r: dict[str, Any]) -> list[str]:
    read = ["search", "agent_search", "get_all"]  # and the first searches, if they ran
    read += [p for p in ("first_search",) if p in (r.get("read") or {})]
    return stopped(r.get("ingest")) + [f"read {s}" for s in stopped(r.get("read"), *read)]


def peak_rss_mb(r: dict[str, Any]) -> tuple[float | None, float]:
    """(the benchmark process's peak over writer and reader, the servers' summed peaks)."""
    procs = [p for p in (r.get("ingest"), r.get("read"), r) if isinstance(p, dict)]
    client = [
        x
        for p in procs
        for x in (
            p.get("sampled_peak_rss_mb"),
            _get(p, "after", "peak_rss_mb"),
            _get(p, "end", "peak_rss_mb"),
        )
        if x is not None
    ]
    servers: dict[str, float] = {}
    for p in procs:
        for name, mb in (p.get("server_peak_rss_mb") or {}).items():
            servers[name] = max(servers.get(name, 0.0), mb)
    return (max(client) if client else None), sum(servers.values())


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _row(
    target: str, value: float | None, op: str, bound: float, unit: str, stops: list[str]
) -> dict[str, Any]:
    ops: dict[str, Callable[[float, float], bool]] = {"≤": operator.le, "≥": operator.ge}
    ok = value is not None and ops[op](value, bound) and not stops
    return {
        "target": target,
        "value": value,
        "bound": f"{op} {bound:g}{unit}",
        "met": ok,
        "note": "; ".join(dict.fromkeys(stops)) if stops else "",
    }


def targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets on one backend's results: max size against min size."""
    rows: list[dict[str, Any]] = []
    t, big = b.get("tenants", {}), b.get("big", {})
    if t:
        lo_n, hi_n = min(t, key=int), max(t, key=int)
        lo, hi = t[lo_n], t[hi_n]
        s_lo, s_hi = tenant_stops(lo), tenant_stops(hi)
        p50 = _get(hi, "read", "search", "p50_ms")
        at = f"at {hi_n} users"
        rows.append(
            _row(
                f"random-tenant search p50 {at} / at {lo_n} users",
                _ratio(p50, _get(lo, "read", "search", "p50_ms")),
                "≤",
                1.5,
                "",
                s_lo + s_hi,
            )
        )
        rows.append(_row(f"random-tenant search p50 {at}", p50, "≤", 30, " ms", s_hi))
        client, servers = peak_rss_mb(hi)
        rss = None if client is None else round(client + servers, 1)
        rows.append(_row(f"peak resident memory {at} (MB)", rss, "≤", MAX_RSS_MB, " MB", s_hi))
        per_fact = hi.get("disk_per_fact_bytes")
        stops = stopped(hi.get("ingest"))
        rows.append(
            _row(f"disk per fact {at} (bytes)", per_fact, "≤", MAX_DISK_PER_FACT, " B", stops)
        )
        agent = _get(hi, "read", "agent_search", "p50_ms")
        rows.append(_row(f"agent_id-only search p50 {at}", agent, "≤", 100, " ms", s_hi))
        rows.append(
            _row(
                f"ingest facts/s {at} / at {lo_n} users",
                _ratio(_get(hi, "ingest", "facts_per_s"), _get(lo, "ingest", "facts_per_s")),
                "≥",
                0.8,
                "",
                stopped(lo.get("ingest")) + stopped(hi.get("ingest")),
            )
        )
    if big:
        lo_n, hi_n = min(big, key=int), max(big, key=int)
        value = _ratio(
            _get(big[hi_n], "search", "hybrid", "p50_ms"),
            _get(big[lo_n], "search", "hybrid", "p50_ms"),
        )
        stops = stopped(big[lo_n], "ingest") + stopped(big[hi_n], "ingest")
        rows.append(
            _row(f"big scope hybrid p50 at {hi_n} / at {lo_n} facts", value, "≤", 2, "", stops)
        )
    return rows


# -- Markdown ------------------------------------------------------------------------------------
def _f(x: Any, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def _lat(d: dict[str, Any] | None) -> str:
    if not d:
        return "–"
    found = f", {100 * d['answer_found']:.0f} % found" if "answer_found" in d else ""
    failed = f", {d['failed_calls']} failed" if d.get("failed_calls") else ""
    n = d.get("n", d.get("queries"))
    return f"{_f(d['p50_ms'])} / {_f(d['p95_ms'])} (n {n}{found}{failed})"


def tenant_line(users: str, r: dict[str, Any]) -> str:
    ing, read = r.get("ingest", {}), r.get("read", {})
    servers = peak_rss_mb(r)[1]
    writer = _get(ing, "after", "peak_rss_mb") or ing.get("sampled_peak_rss_mb")
    reader = _get(read, "end", "peak_rss_mb") or read.get("sampled_peak_rss_mb")
    disk = sum((r.get("disk_bytes") or {}).values()) / 1024**2
    cells = [
        f"{users} ({ing.get('users_done', 0)} done)",
        _f(ing.get("facts_stored"), "d"),
        f"{_f(ing.get('facts_per_s'))} ({_f(ing.get('facts_per_s_first_10pct'))} → "
        f"{_f(ing.get('facts_per_s_last_10pct'))}); CPU {_f(ing.get('cpu_facts_per_s'))} "
        f"({_f(ing.get('cpu_facts_per_s_first_10pct'))} → "
        f"{_f(ing.get('cpu_facts_per_s_last_10pct'))})",
        f"{_f(writer, '.0f')} / {_f(reader, '.0f')}",
        _f(_get(read, "after_searches", "rss_mb"), ".0f"),
        _f(servers, ".0f") if servers else "–",
        f"{disk:.1f} ({_f(r.get('disk_per_fact_bytes'), 'd')})",
        f"{_f(read.get('open_s'), '.2f')} ({_f(read.get('open_empty_s'), '.2f')})",
        _lat(read.get("search")),
        _lat(read.get("first_search")),
        _lat(read.get("agent_search")),
        _f(_get(read, "get_all", "p50_ms"), ".1f"),
        "; ".join(tenant_stops(r)) or "–",
    ]
    return "| " + " | ".join(cells) + " |"


def big_line(facts: str, r: dict[str, Any]) -> str:
    ing, search = r.get("ingest", {}), r.get("search", {})
    client, servers = peak_rss_mb(r)
    cells = [
        facts,
        _f(ing.get("facts_stored"), "d"),
        _f(ing.get("ingest_s")),
        _f(ing.get("facts_per_s")),
        _lat(search.get("hybrid")),
        _lat(search.get("dense")),
        f"{_f(client, '.0f')}" + (f" + servers {servers:.0f}" if servers else ""),
        "; ".join(stopped(r, "ingest")) or "–",
    ]
    return "| " + " | ".join(cells) + " |"


def markdown(report: dict[str, Any]) -> str:
    m, p = report["machine"], report["params"]
    end = report.get("machine_end", {}).get("load", "–")
    lines = [
        "# graphmem scale benchmark (offline extractor, no LLM)",
        "",
        f"Machine: {m['cores']} cores, load avg at start {m['load']}, at end {end}. "
        f"Embedder {p['embed_model']} (ONNX). **Many tenants**: U users × {p['facts_per_user']} "
        "short first-person facts (`benchmarks/tenants.py`), one `add_many` per user; user *i* "
        f"writes with `agent_id` agent*(i mod {p['agents']})*, so an agent-only search spans "
        f"U / {p['agents']} users. Read in a fresh process: open (a new `Memory` to its first "
        f"search answered; on an empty data dir in brackets), {p['searches']} searches of random "
        f"users (`limit` {p['limit']}, default preset `hybrid`, after {p['warmup']} warm-up), "
        f"{p['agent_searches']} `agent_id`-only searches, {p['get_all']} `get_all` of one user; "
        "then a new `Memory` searches up to 100 users once each (*first search*: its caches "
        "empty, as for nearly every search of a random user among thousands). "
        "*found*: the answer in the first 5 results (agent-only: 10). **One big scope**: "
        f"`corpus.build_corpus` facts of one user, `add_many` of {p['many']} documents of "
        f"{p['per_add']} sentences, {p['big_queries']} queries per preset. Each phase stops "
        f"after {p['time_limit_s']} s or above {p['max_rss_gb']} GB resident.",
    ]
    for name, b in report["backends"].items():
        lines += ["", f"## {name}", "", "### Many tenants", ""]
        lines += [
            "| users | facts stored | ingest facts/s (first 10 % → last 10 %); per CPU second "
            "| peak RSS MB writer / reader | RSS MB after searches | servers peak RSS MB "
            "| disk MB (bytes/fact) | open s (empty) | search p50 / p95 ms "
            "| first search of a user p50 / p95 ms | agent-only p50 / p95 ms | get_all p50 ms "
            "| stopped |",
            "|---:|---:|---|---|---:|---:|---|---|---|---|---|---:|---|",
        ]
        lines += [
            tenant_line(u, r) for u, r in sorted(b["tenants"].items(), key=lambda x: int(x[0]))
        ]
        if b["big"]:
            lines += ["", "### One big scope", ""]
            lines += [
                "| facts | stored | ingest s | facts/s | hybrid p50 / p95 ms | dense p50 / p95 ms "
                "| peak RSS MB | stopped |",
                "|---:|---:|---:|---:|---|---|---|---|",
            ]
            lines += [big_line(n, r) for n, r in sorted(b["big"].items(), key=lambda x: int(x[0]))]
        lines += [
            "",
            "### Targets",
            "",
            "| target | measured | bound | met |",
            "|---|---:|---|---|",
        ]
        for t in targets(b):
            met = "met" if t["met"] else "**not met**"
            note = f" ({t['note']})" if t["note"] else ""
            lines.append(f"| {t['target']} | {_f(t['value'], 'g')} | {t['bound']} | {met}{note} |")
    return "\n".join(lines) + "\n"

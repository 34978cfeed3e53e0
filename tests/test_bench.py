"""The benchmark runners: dataset formats, recall arithmetic, reports, one tiny real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from graphmem.bench import (
    DatasetError,
    detect_format,
    evidence_recall,
    load_locomo,
    load_multihop,
    recall_at,
)
from graphmem.bench.common import METHODS, count_tokens, dedupe, parse_methods
from graphmem.bench.locomo import _method_result, _questions, _Tally, fact_dia_ids
from graphmem.bench.multihop import ranked_titles
from graphmem.bench.report import markdown, plot
from graphmem.cli import app


def write(d: Path, questions: Any, corpus: Any) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "questions.json").write_text(json.dumps(questions))
    (d / "corpus.json").write_text(json.dumps(corpus))
    return d


MUSIQUE_Q = [
    {
        "id": "2hop__1_2",
        "question": "Who founded the publisher of J?",
        "answer": "Hall",
        "answer_aliases": [],
        "question_decomposition": [],
        "paragraphs": [
            {"idx": 0, "title": "Noise", "paragraph_text": "x", "is_supporting": False},
            {
                "idx": 1,
                "title": "J",
                "paragraph_text": "J is published by APA.",
                "is_supporting": True,
            },
            {"idx": 2, "title": "APA", "paragraph_text": "APA was...", "is_supporting": True},
        ],
    }
]
LIST_CORPUS = [
    {"title": "J", "text": "J is published by APA."},
    {"title": "APA", "text": "APA was founded by Hall."},
    {"title": "Noise", "text": "Unrelated."},
]
HOTPOT_Q = [
    {
        "_id": "5a",
        "question": "If Gallu is a demon Lilu is what?",
        "answer": "a spirit",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["Alu", 3], ["Lilu", 0], ["Alu", 1]],
        "context": [],
    }
]
HOTPOT_CORPUS = {"Alu": ["Alu is a demon.", " It has no mouth."], "Lilu": ["Lilu is a spirit."]}
GENERIC_Q = [{"question": "Q?", "answer": "A", "supporting_titles": ["J", "APA"]}]


def test_detects_and_loads_musique(tmp_path: Path) -> None:
    ds = load_multihop(write(tmp_path / "musique", MUSIQUE_Q, LIST_CORPUS))
    assert (ds.name, ds.format, len(ds.passages)) == ("musique", "musique", 3)
    assert ds.questions[0].gold_titles == ("J", "APA")
    assert ds.questions[0].answer == "Hall" and ds.questions[0].index == 0


def test_detects_and_loads_hotpotqa(tmp_path: Path) -> None:
    ds = load_multihop(write(tmp_path / "hp", HOTPOT_Q, HOTPOT_CORPUS))
    assert ds.format == "hotpotqa"
    assert ds.questions[0].gold_titles == ("Alu", "Lilu")  # by title, duplicates dropped
    assert ds.passages[0].title == "Alu"
    assert ds.passages[0].text == "Alu is a demon. It has no mouth."


def test_detects_and_loads_generic(tmp_path: Path) -> None:
    ds = load_multihop(write(tmp_path / "g", GENERIC_Q, LIST_CORPUS))
    assert ds.format == "generic"
    assert ds.questions[0].gold_titles == ("J", "APA")
    assert [p.title for p in ds.passages] == ["J", "APA", "Noise"]


@pytest.mark.parametrize(
    ("questions", "corpus", "message"),
    [
        ([{"question": "Q?", "answer": "A"}], LIST_CORPUS, "unknown questions format"),
        ([], LIST_CORPUS, "non-empty list"),
        (HOTPOT_Q, LIST_CORPUS, "dict title"),
        (GENERIC_Q, HOTPOT_CORPUS, "list of {title, text}"),
    ],
)
def test_format_errors_are_clear(questions: Any, corpus: Any, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        detect_format(questions, corpus)


def test_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing"):
        load_multihop(tmp_path)


LOCOMO = [
    {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Ben",
            "session_2_date_time": "10:04 am on 19 June, 2023",
            "session_2": [{"speaker": "Ben", "dia_id": "D2:1", "text": "I adopted a dog."}],
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ann", "dia_id": "D1:1", "text": "Hi Ben!"},
                {
                    "speaker": "Ben",
                    "dia_id": "D1:2",
                    "text": "Look at this.",
                    "img_url": ["http://x"],
                    "blip_caption": "a photo of a cake",
                },
            ],
        },
        "qa": [
            {
                "question": "What did Ben adopt?",
                "answer": "a dog",
                "evidence": ["D2:1"],
                "category": 4,
            },
            {"question": "When?", "answer": 2023, "evidence": ["D2:1", "D9:9"], "category": 2},
            {"question": "Trick?", "adversarial_answer": "x", "evidence": ["D1:1"], "category": 5},
            {"question": "No evidence?", "answer": "y", "evidence": [], "category": 1},
        ],
        "observation": {},
        "session_summary": {},
        "event_summary": {},
    }
]


def test_loads_locomo(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(LOCOMO))
    (conv,) = load_locomo(path)
    assert conv.sample_id == "conv-1" and conv.speakers == ("Ann", "Ben")
    assert [t.dia_id for t in conv.turns] == ["D1:1", "D1:2", "D2:1"]  # sessions in order
    assert conv.turns[0].timestamp == "2023-05-08T13:56:00"
    assert conv.turns[2].session == 2 and conv.turns[2].timestamp == "2023-06-19T10:04:00"
    assert conv.turns[1].text == "Look at this. [image: a photo of a cake]"
    assert conv.questions[1].answer == "2023"
    picked, skipped = _questions(conv, None)
    assert [(q.category, q.index) for q in picked] == [(4, 0), (2, 1)]  # adversarial excluded
    assert skipped == 1  # no evidence


def test_bad_locomo_date(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(LOCOMO))
    bad[0]["conversation"]["session_1_date_time"] = "yesterday"
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match="session date"):
        load_locomo(path)


def test_recall_counts_gold_by_title_and_dedupes_the_ranking() -> None:
    ranking = ["A", "A", "B", "C", "B", "D"]
    assert dedupe(ranking) == ["A", "B", "C", "D"]
    assert recall_at(ranking, ["B", "C"], 2) == 0.5  # top-2 distinct: A, B
    assert recall_at(ranking, ["B", "C"], 3) == 1.0
    assert recall_at(ranking, ["B", "B", "Z"], 5) == 0.5  # gold is a set of titles
    assert recall_at([], ["A"], 5) == 0.0
    with pytest.raises(ValueError):
        recall_at(ranking, [], 2)


def test_ranked_titles_prefer_top_level_sources() -> None:
    res = {
        "results": [{"sources": [{"name": "X"}]}],
        "sources": [{"title": "B"}, {"title": "A"}, {"title": "B"}],
    }
    assert ranked_titles(res) == (["B", "A"], True)
    res.pop("sources")
    assert ranked_titles(res) == (["X"], False)


def test_evidence_recall_counts_unknown_ids_as_misses() -> None:
    assert evidence_recall(["D1:1", "D9:9"], ["D1:1", "D1:2"]) == 0.5
    assert evidence_recall(["D8:6; D9:17"], ["D8:6", "D9:17"]) == 0.0
    results = [
        {"sources": [{"metadata": {"dia_id": "D1:1"}}, {"metadata": {}}]},
        {"sources": [{"metadata": {"dia_id": "D2:3"}}]},
    ]
    assert fact_dia_ids(results) == ["D1:1", "D2:3"]


def test_locomo_means_per_category_and_overall() -> None:
    t = _Tally()
    for cat, x in [(1, 0.0), (1, 1.0), (4, 1.0), (2, 0.5)]:
        t.add("recall@10", cat, x)
    t.tokens["context_tokens@10"] = [10, 20]
    t.ms = [1.0, 3.0]
    out = _method_result(t)
    assert out["recall@10"] == {"overall": 0.625, "1": 0.5, "2": 0.5, "3": 0.0, "4": 1.0}
    assert out["context_tokens@10"] == 15.0
    assert out["search_ms_p50"] == 2.0


def test_helpers() -> None:
    assert count_tokens("Hi, Ben! It's 3pm.") == 9  # Hi , Ben ! It ' s 3pm .
    assert parse_methods(" dense, hybrid,dense ") == ["dense", "hybrid"]
    with pytest.raises(ValueError):
        parse_methods(" , ")


def test_markdown_and_plot(tmp_path: Path) -> None:
    m = {"recall@2": 0.5, "recall@5": 0.75, "search_ms_p50": 3.0, "search_ms_p95": 5.0}
    multihop = {
        "dataset": "toy",
        "n_questions": 2,
        "n_passages": 6,
        "ingest_seconds": 1.0,
        "methods": {"dense": m, "hybrid": m},
    }
    assert "| dense | 50.0 | 75.0 | 3.0 | 5.0 |" in markdown(multihop)
    cats = {"overall": 0.5, "1": 0.25, "2": 0.5, "3": 0.0, "4": 1.0}
    lm = {f"recall@{k}": cats for k in (5, 10, 20)} | {
        "context_tokens@10": 120.0,
        "search_ms_p50": 4.0,
        "search_ms_p95": 6.0,
    }
    locomo = {
        "n_conversations": 1,
        "n_turns": 3,
        "n_questions": {"overall": 2, "1": 0, "2": 1, "3": 0, "4": 1},
        "ingest_seconds": 2.0,
        "turns_per_s": 1.5,
        "full_context_tokens": 900.0,
        "methods": {"hybrid": lm},
    }
    assert "| hybrid | 50.0 | 50.0 | 50.0 | 25.0 | 50.0 | 0.0 | 100.0 | 120 |" in markdown(locomo)
    png = tmp_path / "recall.png"
    plot([multihop, locomo], png)
    assert png.read_bytes()[:4] == b"\x89PNG"


GENERIC_CORPUS = [
    {"title": "Acme Robotics", "text": "Acme Robotics is a company based in Berlin."},
    {"title": "Bob Novak", "text": "Bob Novak works at Acme Robotics as an engineer."},
    {"title": "Berlin", "text": "Berlin is the capital of Germany."},
    {"title": "Thai curry", "text": "Thai curry is made with coconut milk and chili paste."},
    {"title": "Chess", "text": "Chess is a board game for two players."},
    {"title": "Oslo", "text": "Oslo is the capital of Norway."},
]
GENERIC_QUESTIONS = [
    {
        "question": "In which city is the company Bob Novak works for based?",
        "answer": "Berlin",
        "supporting_titles": ["Bob Novak", "Acme Robotics"],
    },
    {
        "question": "What is Thai curry made with?",
        "answer": "coconut milk",
        "supporting_titles": ["Thai curry"],
    },
]


def test_bench_multihop_end_to_end(tmp_path: Path) -> None:
    data = write(tmp_path / "toy", GENERIC_QUESTIONS, GENERIC_CORPUS)
    out = tmp_path / "res" / "toy.json"
    args = ["--data-dir", str(data), "--out", str(out), "--work-dir", str(tmp_path / "work")]
    res = CliRunner().invoke(app, ["bench", "multihop", *args])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert (result["dataset"], result["n_questions"], result["n_passages"]) == ("toy", 2, 6)
    assert isinstance(result["ingest_seconds"], float)
    assert set(result["methods"]) == set(METHODS)
    for m in result["methods"].values():
        for key in ("recall@2", "recall@5", "search_ms_p50", "search_ms_p95"):
            assert isinstance(m[key], float)
        assert 0.0 <= m["recall@2"] <= m["recall@5"] <= 1.0
    assert result["methods"]["dense"]["recall@5"] == 1.0  # 6 passages: every gold is in the top 5
    assert out.with_suffix(".md").read_text().startswith("# graphmem multi-hop")
    detail = result["per_question"][0]  # indices into the data, never its text
    assert detail["index"] == 0 and "question" not in detail and detail["gold"][0] == "Bob Novak"
    assert not list((tmp_path / "work").iterdir())  # the temporary data dir is removed


def test_bench_report_rerenders(tmp_path: Path) -> None:
    result = {
        "dataset": "toy",
        "n_questions": 1,
        "n_passages": 1,
        "ingest_seconds": 0.5,
        "methods": {
            "dense": {"recall@2": 1.0, "recall@5": 1.0, "search_ms_p50": 1.0, "search_ms_p95": 1.0}
        },
    }
    f = tmp_path / "toy.json"
    f.write_text(json.dumps(result))
    res = CliRunner().invoke(app, ["bench", "report", str(f), "--plot", str(tmp_path / "r.png")])
    assert res.exit_code == 0, res.output
    assert "| dense | 100.0 | 100.0 |" in f.with_suffix(".md").read_text()
    assert (tmp_path / "r.png").exists()


def test_bench_errors_are_clear(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["bench", "multihop", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o.json")]
    )
    assert res.exit_code == 2 and "missing" in res.output


def test_bench_locomo_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(LOCOMO))
    out = tmp_path / "locomo-out.json"
    args = ["--data", str(path), "--out", str(out), "--methods", "dense,hybrid"]
    res = CliRunner().invoke(app, ["bench", "locomo", *args, "--work-dir", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert set(result["methods"]) == {"dense", "hybrid"}
    assert result["n_questions"] == {"overall": 2, "1": 0, "2": 1, "3": 0, "4": 1}
    for m in result["methods"].values():
        for k in (5, 10, 20):
            assert set(m[f"recall@{k}"]) == {"overall", "1", "2", "3", "4"}
            assert 0.0 <= m[f"recall@{k}"]["overall"] <= 1.0
        assert m["context_tokens@10"] > 0
    assert result["full_context_tokens"] > 0
    assert "LoCoMo evidence recall" in out.with_suffix(".md").read_text()


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
LATENCY = {"p50_ms", "p95_ms", "mean_ms", "max_ms", "n", "answer_found", "other_scope_results"}


def test_bench_scale_smoke_reports_every_field(tmp_path: Path) -> None:
    out, work = tmp_path / "scale.json", tmp_path / "work"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--smoke", "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--data-dir", str(work)], env=os.environ, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["params"]["agents"] == 10 and report["params"]["facts_per_user"] == 5
    tenants = report["backends"]["embedded"]["tenants"]["20"]
    ing, read = tenants["ingest"], tenants["read"]
    assert (ing["users_done"], ing["facts_generated"], ing["stopped"]) == (20, 100, None)
    assert ing["facts_stored"] >= 90 and len(ing["facts_per_s_by_decile"]) == 10
    for key in ("ingest_s", "facts_per_s", "facts_per_s_first_10pct", "facts_per_s_last_10pct"):
        assert ing[key] > 0 and ing[f"cpu_{key.replace('ingest_s', 's')}"] > 0, key
    assert len(ing["cpu_facts_per_s_by_decile"]) == 10 and ing["cpu_last_over_first"] > 0
    assert ing["after"]["peak_rss_mb"] > 0 and ing["sampled_peak_rss_mb"] > 0
    assert read["open_s"] > 0 and read["open_empty_s"] > 0
    assert read["after_searches"]["rss_mb"] > 0 and read["end"]["peak_rss_mb"] > 0
    for kind, n in (("search", 50), ("first_search", 20), ("agent_search", 10), ("get_all", 20)):
        assert set(read[kind]) >= LATENCY and read[kind]["n"] == n, kind
        assert read[kind]["other_scope_results"] == 0, kind  # no tenant sees another's memories
        assert read[kind]["answer_found"] > 0.5 and read[kind]["failed_calls"] == 0, kind
    assert tenants["disk_bytes"]["data_dir"] > 0 and tenants["disk_per_fact_bytes"] > 0
    big = report["backends"]["embedded"]["big"]["200"]
    assert big["ingest"]["facts_stored"] >= 190 and big["ingest"]["stopped"] is None
    for preset in ("hybrid", "dense"):
        assert big["search"][preset]["p50_ms"] > 0 and big["search"][preset]["queries"] == 20
    rows = report["targets"]["embedded"]
    assert len(rows) == 7 and all(isinstance(r["met"], bool) and r["value"] for r in rows)
    assert "### Targets" in out.with_suffix(".md").read_text()
    assert not list(work.iterdir())  # the data dirs are removed


def test_bench_scale_targets_compare_largest_with_smallest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from scale_report import targets

    def tenants(p50: float, facts_per_s: float, stopped: str | None) -> dict[str, Any]:
        read = {"search": {"p50_ms": p50}, "agent_search": {"p50_ms": 50.0}, "get_all": {}}
        ingest = {"facts_per_s": facts_per_s, "stopped": stopped, "sampled_peak_rss_mb": 900.0}
        return {"ingest": ingest, "read": read, "disk_per_fact_bytes": 9000}

    big = {
        n: {"ingest": {}, "search": {"hybrid": {"p50_ms": ms}}}
        for n, ms in [("10", 10.0), ("100", 25.0)]
    }
    b = {"tenants": {"100": tenants(10.0, 50.0, None), "10000": tenants(14.0, 38.0, None)}}
    rows = {r["target"]: r for r in targets(b | {"big": big})}
    ratio = rows["random-tenant search p50 at 10000 users / at 100 users"]
    assert (ratio["value"], ratio["met"]) == (1.4, True)
    ingest = rows["ingest facts/s at 10000 users / at 100 users"]
    assert (ingest["value"], ingest["met"]) == (0.76, False)
    assert rows["peak resident memory at 10000 users (MB)"]["value"] == 900.0
    assert rows["big scope hybrid p50 at 100 / at 10 facts"]["value"] == 2.5
    b["tenants"]["10000"] = tenants(14.0, 45.0, "memory guard")
    stopped = {r["target"]: r for r in targets(b)}
    row = stopped["random-tenant search p50 at 10000 users"]
    assert row["met"] is False and row["note"] == "memory guard"  # a stopped phase is never met


def test_bench_scale_kills_a_process_past_the_memory_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from servers import MB, watch

    hog = "import time; x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); "
    proc = subprocess.Popen([sys.executable, "-c", hog + "time.sleep(60)"])
    seen = watch(proc, None, 200 * MB, None)
    assert seen["killed"] == "memory guard (killed)" and proc.returncode is not None
    assert seen["sampled_peak_rss_mb"] > 200
    ok = watch(subprocess.Popen([sys.executable, "-c", "pass"]), None, 200 * MB, None)
    assert "killed" not in ok and "error" not in ok


def test_bench_server_smoke_loses_nothing_and_reports_every_route(tmp_path: Path) -> None:
    out = tmp_path / "server.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_server.py"), "--smoke", "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--data-dir", str(tmp_path)], env=os.environ, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert set(report["levels"]) == {"2", "4"}
    for lv in report["levels"].values():
        assert lv["errors"] == 0 and lv["requests"] > 0 and lv["rps"] > 0
        for route in ("add", "search"):
            assert {"rps", "p50_ms", "p95_ms", "p99_ms", "errors"} <= set(lv["routes"][route])
    assert report["acknowledged_adds"] > 0 and report["lost"] == 0
    o = report["overhead"]
    assert o["probes"] == 10 and o["server_search_p50_ms"] > 0 and o["ratio"] > 0
    assert "Protocol overhead" in out.with_suffix(".md").read_text()


def test_bench_llm_smoke_reports_speedups_and_usage(tmp_path: Path) -> None:
    out = tmp_path / "llm.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_llm.py"), "--smoke", "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--data-dir", str(tmp_path / "work")], env=os.environ, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert set(report["levels"]) == {"1", "4"} and report["speedup"]["1"] == 1.0
    docs = report["params"]["docs"]
    for key, lv in report["levels"].items():
        assert lv["stored_facts"] == docs and lv["seconds"] > 0 and report["speedup"][key] > 0
        assert 1 <= lv["max_in_flight"] <= int(key)
        used = lv["add_many_usage"]
        assert used["llm_calls"] == docs + 2  # one extraction each, 2 later batches reconciled
        assert used["prompt_tokens"] > 0 and used["completion_tokens"] > 0
        assert lv["ask_usage"]["llm_calls"] == 1
        assert lv["total_usage"]["llm_calls"] == used["llm_calls"] + 1
    assert report["levels"]["1"]["max_in_flight"] == 1
    assert "| 4 |" in out.with_suffix(".md").read_text()
    assert not list((tmp_path / "work").iterdir())  # the data dirs are removed

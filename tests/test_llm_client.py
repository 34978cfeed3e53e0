"""The LLM path through a real HTTP server: ``Memory(extractor="llm")`` against the
OpenAI-compatible stub of ``tests/llm_stub.py`` (the ``openai`` client, its transport and
retries all real). Structured-output negotiation, the repair loop in every mode, timeouts
and a server that is down, usage accounting, concurrent ``add_many``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_stub import LLMStub, closed_port, first_user
from typer.testing import CliRunner

from graphmem import Config, ExtractionError, Memory
from graphmem.extract.structured import (
    for_prompt,
    pull_json,
    refusal,
    schema_prompt,
    without_limits,
)
from graphmem.prompts import Decisions, Extraction

Connect = Callable[..., Memory]
MODEL = "stub-model"


@pytest.fixture()
def stub() -> Iterator[LLMStub]:
    with LLMStub() as s:
        yield s


@pytest.fixture()
def connect(tmp_path: Path, embedder: Any, spacy_extractor: Any) -> Iterator[Connect]:
    """``connect(url, **settings)``: a Memory whose LLM is the server at ``url``."""
    made: list[Memory] = []

    def make(url: str, **settings: Any) -> Memory:
        cfg = {
            "data_dir": tmp_path / f"gm{len(made)}",
            "extractor": "llm",
            "llm_base_url": url,
            "llm_model": MODEL,
            "llm_max_retries": 0,
            "llm_reply_retries": 1,
            **settings,
        }
        made.append(Memory(Config.load(cfg), embedder=embedder, offline=spacy_extractor))
        return made[-1]

    yield make
    for m in made:
        m.close()


def memories(m: Memory, user: str = "alice") -> list[str]:
    return [r["memory"] for r in m.get_all(user_id=user, include_invalid=True)["results"]]


def assert_nothing_written(m: Memory, user: str = "alice") -> None:
    assert memories(m, user) == []
    found = m.search("Lisbon Bob Carol", user_id=user)
    assert found["results"] == found["sources"] == found["relations"] == []
    assert m.entities(user_id=user)["results"] == []
    assert m.health()["ok"]


# -- structured output negotiation ---------------------------------------------------------
def test_json_schema_refused_as_llama_cpp_python_does_steps_down_once(
    stub: LLMStub, connect: Connect
) -> None:
    """llama-cpp-python's server answers json_schema with HTTP 500: the first call steps down
    to json_object (with the schema, its length limits left out, and the schema in the
    prompt); every later call of this client (extraction, reconciliation, ask) goes there
    directly."""
    stub.refuse = {"json_schema"}
    m = connect(stub.url)
    out = m.add("I live in Lisbon", user_id="alice")
    assert [r["memory"] for r in out["results"]] == ["I live in Lisbon"]
    assert stub.formats() == ["json_schema", "json_object"]
    sent = stub.requests[1]
    assert sent["response_format"]["schema"]["title"] == "Extraction"
    assert "maxLength" not in json.dumps(sent["response_format"]["schema"])
    assert "maxLength" in json.dumps(Extraction.model_json_schema())
    assert '"properties"' in sent["messages"][0]["content"]  # the schema in the prompt too
    assert isinstance(sent["max_tokens"], int) and sent["max_tokens"] == 1024
    m.add("Bob knows Carol", user_id="alice")  # extraction + reconciliation
    answer = m.ask("Where do I live?", user_id="alice")
    assert stub.formats()[2:] == ["json_object"] * 3
    assert "NEW:" in first_user(stub.requests[3]) and "Question:" in first_user(stub.requests[4])
    assert answer["citations"] and set(answer["citations"]) <= {r["id"] for r in answer["results"]}


def test_text_only_server_gets_the_schema_in_the_prompt(stub: LLMStub, connect: Connect) -> None:
    """A server refusing both JSON modes: the schema goes in the prompt, the JSON is read
    out of a reply written around it (prose, then a fenced block)."""
    stub.refuse = {"json_schema", "json_object"}
    m = connect(stub.url)
    m.add("I live in Lisbon", user_id="alice")
    m.add("I work at Acme", user_id="alice")
    assert stub.formats() == ["json_schema", "json_object", None, None, None]
    assert sorted(memories(m)) == ["I live in Lisbon", "I work at Acme"]
    assert all('"properties"' in r["messages"][0]["content"] for r in stub.requests[2:])


def test_server_ignoring_the_format_is_found_out_by_its_prose(
    stub: LLMStub, connect: Connect
) -> None:
    stub.ignore_format = True
    m = connect(stub.url)
    m.add("I live in Lisbon", user_id="alice")
    m.add("I work at Acme", user_id="alice")
    assert stub.formats() == ["json_schema", "json_object", "json_object", "json_object"]
    assert sorted(memories(m)) == ["I live in Lisbon", "I work at Acme"]


def test_calls_made_while_the_mode_is_found_wait_for_it(stub: LLMStub, connect: Connect) -> None:
    """Concurrent first calls do not each try (and fail) json_schema: one finds the mode."""
    stub.refuse = {"json_schema"}
    m = connect(stub.url, llm_concurrency=4)
    m.add_many([f"Note number {i}" for i in range(6)], user_id="alice")
    assert stub.formats().count("json_schema") == 1
    assert len(memories(m)) == 6


def test_a_pinned_mode_is_used_from_the_first_call(stub: LLMStub, connect: Connect) -> None:
    m = connect(stub.url, llm_structured_output="prompt")
    m.add("I live in Lisbon", user_id="alice")
    assert stub.formats() == [None]
    stub.refuse = {"json_schema"}
    pinned = connect(stub.url, llm_structured_output="json_schema")
    with pytest.raises(ExtractionError, match="llm_structured_output") as e:
        pinned.add("I live in Lisbon", user_id="alice")
    assert "'json_object', 'prompt'" in str(e.value) and "HTTP 500" in str(e.value)
    assert_nothing_written(pinned)


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "prompt"])
def test_repair_loop_in_every_mode(stub: LLMStub, connect: Connect, mode: str) -> None:
    stub.garbage = 1
    m = connect(stub.url, llm_structured_output=mode)
    out = m.add("I live in Lisbon", user_id="alice")
    assert [r["memory"] for r in out["results"]] == ["I live in Lisbon"]
    assert len(stub.requests) == 2 and len(set(stub.formats())) == 1
    repair = stub.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"facts": [ not json'}
    assert repair[-1]["content"].startswith("That reply is invalid: ")
    assert out["usage"]["llm_calls"] == 2
    stub.garbage = 2  # the repair is broken too: an error, nothing of it written
    with pytest.raises(ExtractionError, match="no valid Extraction after 2 attempts"):
        m.add("I work at Acme", user_id="alice")
    assert memories(m) == ["I live in Lisbon"]


def test_schema_violation_is_repaired_without_stepping_down(
    stub: LLMStub, connect: Connect
) -> None:
    """JSON of the wrong shape is the model's mistake, not a server ignoring the format."""
    replies = iter(['{"facts": "none"}'])
    stub.respond = lambda body: next(replies, None) or json.dumps({"facts": [{"text": "x y"}]})
    m = connect(stub.url)
    assert m.add("x y", user_id="alice")["usage"]["llm_calls"] == 2
    assert stub.formats() == ["json_schema", "json_schema"]
    assert "facts" in stub.requests[1]["messages"][-1]["content"]


# -- transport ------------------------------------------------------------------------------
def test_rate_limit_waits_for_retry_after(stub: LLMStub, connect: Connect) -> None:
    stub.rate_limit = 1
    m = connect(stub.url, llm_max_retries=1)
    out = m.add("I live in Lisbon", user_id="alice")
    assert len(stub.requests) == 2 and memories(m) == ["I live in Lisbon"]
    assert out["usage"]["llm_calls"] == 1  # the 429 answered nothing


def test_slow_server_is_a_clear_error_and_nothing_is_written(
    stub: LLMStub, connect: Connect
) -> None:
    stub.delay = 30.0  # cut short when the stub stops
    m = connect(stub.url, llm_timeout=0.5)
    with pytest.raises(ExtractionError, match=r"APITimeoutError.*llm_timeout = 0\.5 s"):
        m.add("I live in Lisbon", user_id="alice")
    assert_nothing_written(m)


def test_server_down_is_a_clear_error_and_nothing_is_written(connect: Connect) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    m = connect(url)
    with pytest.raises(ExtractionError, match=r"APIConnectionError.*is the LLM server at"):
        m.add("I live in Lisbon", user_id="alice")
    with pytest.raises(ExtractionError, match="APIConnectionError"):
        m.add_many(["I live in Lisbon", "Bob knows Carol"], user_id="alice")
    assert_nothing_written(m)


def test_add_many_writes_nothing_when_one_extraction_fails(stub: LLMStub, connect: Connect) -> None:
    """Every item is extracted before any batch is written: a failure in a later batch
    leaves no earlier batch behind."""
    from llm_stub import echo

    stub.respond = lambda body: "{oops" if "poison" in first_user(body) else echo(body)
    m = connect(stub.url, llm_concurrency=2)
    items = ["I live in Lisbon", "Bob knows Carol", "Ann likes tea", "poison pill", "Eve runs"]
    with pytest.raises(ExtractionError, match="no valid Extraction"):
        m.add_many(items, user_id="alice", batch_size=2)
    assert_nothing_written(m)


def test_add_many_failing_in_a_later_batch_says_what_was_stored(
    stub: LLMStub, connect: Connect
) -> None:
    """Batches are written in order, each one journaled write: when the reconciliation call of
    a later batch fails, the error says how many items the batches before it stored."""
    from llm_stub import echo

    stub.respond = lambda body: "{oops" if "NEW:" in first_user(body) else echo(body)
    m = connect(stub.url)
    items = ["I live in Lisbon", "Bob knows Carol", "Ann likes tea", "Eve runs"]
    with pytest.raises(ExtractionError, match="the first 2 items were stored, the 2 after"):
        m.add_many(items, user_id="alice", batch_size=2)
    assert sorted(memories(m)) == ["Bob knows Carol", "I live in Lisbon"]


# -- usage ------------------------------------------------------------------------------------
def test_usage_per_result_and_in_total_is_what_the_server_reported(
    stub: LLMStub, connect: Connect, memory: Memory
) -> None:
    prices = {MODEL: {"prompt": 0.5, "completion": 2.0}}
    m = connect(stub.url, llm_prices=prices)
    seen: list[dict[str, Any]] = []

    def since(before: int) -> dict[str, Any]:
        calls = stub.answered[before:]
        p = sum(u["prompt_tokens"] for u in calls)
        c = sum(u["completion_tokens"] for u in calls)
        out = {"llm_calls": len(calls), "prompt_tokens": p, "completion_tokens": c}
        seen.append(out)
        return {**out, "cost": round((p * 0.5 + c * 2.0) / 1e6, 9)}

    n = len(stub.answered)
    assert m.add("I live in Lisbon", user_id="alice")["usage"] == since(n)
    stub.garbage = 1  # a repair costs a call too
    n = len(stub.answered)
    out = m.add_many(["I work at Acme", "Bob knows Carol"], user_id="alice")
    assert out["usage"] == since(n) and out["usage"]["llm_calls"] == 4  # 2 + repair + reconcile
    n = len(stub.answered)
    assert m.ask("Where do I live?", user_id="alice")["usage"] == since(n)
    assert seen[-1]["llm_calls"] == 1 and seen[-1]["prompt_tokens"] > 0
    total = stub.usage()
    assert total["llm_calls"] == 6
    assert m.usage() == {**total, "cost": round(since(0)["cost"], 9)}
    offline = memory.add("I live in Porto", user_id="bob")
    assert offline["usage"] == {"llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    assert memory.usage()["llm_calls"] == 0


def test_failed_calls_count_in_the_running_totals(stub: LLMStub, connect: Connect) -> None:
    stub.garbage = 2
    m = connect(stub.url)
    with pytest.raises(ExtractionError):
        m.add("I live in Lisbon", user_id="alice")
    assert m.usage() == stub.usage() and m.usage()["llm_calls"] == 2


# -- concurrent add_many ---------------------------------------------------------------------
DOCS = [f"Document {i} says that item {i} is stored in room {100 + i}" for i in range(8)]


def slow_first(body: dict[str, Any]) -> float:
    """The earlier a document, the later its reply (order must not follow arrival)."""
    user = first_user(body)
    index = next((i for i, d in enumerate(DOCS) if d in user), None)
    return 0.0 if index is None else 0.02 * (len(DOCS) - index)


def test_add_many_extracts_side_by_side_and_keeps_the_order(
    stub: LLMStub, connect: Connect
) -> None:
    stub.hold = 2  # each request waits for a second one: only concurrent calls get through
    stub.delay = slow_first
    # pinned: while ``auto`` finds the mode, the first call is alone (see the test above)
    m = connect(stub.url, llm_concurrency=4, llm_structured_output="json_schema")
    out = m.add_many(DOCS, user_id="alice", batch_size=3)
    assert stub.max_in_flight >= 2
    assert [r["memory"] for r in out["results"]] == DOCS
    assert sorted(memories(m)) == sorted(DOCS)
    extraction = [r for r in stub.requests if "<memory-input>" in first_user(r)]
    assert len(extraction) == len(DOCS) and out["usage"]["llm_calls"] == len(stub.answered)


def test_add_many_with_concurrency_one_makes_one_call_at_a_time(
    stub: LLMStub, connect: Connect
) -> None:
    stub.delay = slow_first
    m = connect(stub.url, llm_concurrency=1)
    out = m.add_many(DOCS, user_id="alice", batch_size=3)
    assert stub.max_in_flight == 1
    assert [r["memory"] for r in out["results"]] == DOCS


def test_add_many_progress_bar(
    stub: LLMStub, connect: Connect, capsys: pytest.CaptureFixture[str]
) -> None:
    m = connect(stub.url)
    m.add_many(DOCS[:3], user_id="alice", progress=True)
    err = capsys.readouterr().err
    assert "extracted" in err and "stored" in err


def test_cli_add_many_shows_results_and_usage(stub: LLMStub, tmp_path: Path) -> None:
    from graphmem.cli import app

    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps({"messages": d}) for d in DOCS[:3]) + "\n")
    env = {
        "GRAPHMEM_EXTRACTOR": "llm",
        "GRAPHMEM_LLM_BASE_URL": stub.url,
        "GRAPHMEM_LLM_MODEL": MODEL,
    }
    args = ["add-many", str(items), "--user", "alice", "--data-dir", str(tmp_path / "gm")]
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    assert "3 added" in res.output and "LLM: 3 calls" in res.output


# -- the pieces -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "found"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('Sure:\n```json\n{"a": "}"}\n```\nDone.', '{"a": "}"}'),
        ('```\n{"a": [1, {"b": 2}]}\n```', '{"a": [1, {"b": 2}]}'),
        ('Here: {"a": "x\\"}"} and {"b": 2}', '{"a": "x\\"}"}'),
        ('{broken {"ok": true}', '{"ok": true}'),
        ("no json here", None),
        ("", None),
    ],
)
def test_pull_json(reply: str, found: str | None) -> None:
    assert pull_json(reply) == found


def test_without_limits_keeps_properties_named_like_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "format": {"type": "string", "maxLength": 5, "pattern": "x"},
            "items": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 3},
        },
        "$defs": {"pattern": {"type": "integer", "minimum": 0}},
    }
    assert without_limits(schema) == {
        "type": "object",
        "properties": {
            "format": {"type": "string"},
            "items": {"type": "array", "items": {"type": "string"}},
        },
        "$defs": {"pattern": {"type": "integer"}},
    }


def test_schema_in_the_prompt_keeps_what_the_model_needs() -> None:
    schema = {
        "title": "Note",
        "description": "The model's docstring, for programmers.",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string", "description": "a short heading"},
        },
    }
    assert for_prompt(schema) == {
        "type": "object",
        "properties": {"title": {"type": "string", "description": "a short heading"}},
    }
    assert "Invalid facts" not in schema_prompt(Extraction)  # Extraction's docstring
    assert "id of the NEW fact" in schema_prompt(Decisions)  # a field's description


def test_refusals_are_told_from_other_errors() -> None:
    assert refusal(500, "Input should be 'text' or 'json_object' (response_format)")
    assert refusal(400, "response_format.type: json_schema is not supported")
    assert refusal(422, "Unsupported value: 'json_schema'")
    assert not refusal(500, "CUDA out of memory")
    assert not refusal(429, "response_format rate limit")

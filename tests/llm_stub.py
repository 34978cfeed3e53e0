"""A small OpenAI-compatible chat server for tests and benchmarks: a real HTTP server on
127.0.0.1 (a free port, in a thread) answering ``POST /v1/chat/completions`` with ``usage``.

Its replies come from an "echo model" that reads graphmem's prompts: an extraction request
gets one fact per input message (the message's text), a reconciliation request ADD for every
NEW fact, a question the first memory shown, cited. It can be told to behave as the servers
graphmem meets do:

- ``refuse``: response_format types it refuses, as llama-cpp-python's server refuses
  ``json_schema`` (HTTP 500 "Input should be 'text' or 'json_object'") and a text-only
  server ``json_object`` (HTTP 400);
- ``ignore_format``: it accepts any response_format but ignores it: without the schema in
  the prompt its model answers in prose;
- ``garbage``: the next N replies are broken JSON;
- ``rate_limit``: the next N requests get HTTP 429 with ``Retry-After``;
- ``delay``: seconds before each answer (or a function of the request body);
- ``hold``: requests wait until that many have been in flight at once (at most
  ``hold_timeout`` seconds): only concurrent calls get through quickly;
- ``respond``: a function of the request body giving the reply's content;
- ``stop()``: it is down (connections refused).

Replies without a response_format (prompt mode) come as a model writes them: a sentence,
then the JSON in a ```json fence. It records every request body (``requests``), the usage of
every answered call (``answered``) and the most requests it held at once (``max_in_flight``).
Tokens are counted as words (whitespace-separated) of the messages and of the reply.

    with LLMStub(refuse={"json_schema"}) as stub:
        Memory(Config.load({"extractor": "llm", "llm_base_url": stub.url, ...}))
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = dict[str, Any]
LLAMA_CPP_REFUSAL = (
    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}]"
)
_ID_LINE = re.compile(r"^\[([^\]]+)\] \([^)]*\) (.*)$")


def words(text: str) -> int:
    return len(text.split())


def first_user(body: Body) -> str:
    return next((m["content"] for m in body["messages"] if m["role"] == "user"), "")


def echo(body: Body) -> str:
    """The echo model's reply to one of graphmem's prompts (valid for its schema)."""
    user = first_user(body)
    if "<memory-input>" in user:
        lines = user.split("<memory-input>\n", 1)[1].split("\n</memory-input>", 1)[0]
        texts = [line.split(": ", 1)[-1] for line in lines.splitlines() if line.strip()]
        return json.dumps({"facts": [{"text": t} for t in texts], "entities": []})
    if "NEW:" in user:
        new = re.findall(r"^(N\d+): ", user, re.MULTILINE)
        return json.dumps({"decisions": [{"new_id": n, "event": "ADD"} for n in new]})
    if "Question:" in user:
        shown = [m.groups() for line in user.splitlines() if (m := _ID_LINE.match(line))]
        if not shown:
            return json.dumps({"answer": "I do not know.", "citations": []})
        return json.dumps({"answer": shown[0][1], "citations": [shown[0][0]]})
    return json.dumps({"answer": "?"})


class LLMStub:
    def __init__(
        self,
        *,
        refuse: set[str] | None = None,
        ignore_format: bool = False,
        garbage: int = 0,
        rate_limit: int = 0,
        retry_after: float = 1.0,
        delay: float | Callable[[Body], float] = 0.0,
        hold: int = 0,
        hold_timeout: float = 5.0,
        respond: Callable[[Body], str] | None = None,
    ) -> None:
        self.refuse = set(refuse or ())
        self.ignore_format = ignore_format
        self.garbage = garbage
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.delay = delay
        self.hold = hold
        self.hold_timeout = hold_timeout
        self.respond = respond or echo
        self.requests: list[Body] = []
        self.answered: list[dict[str, int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Condition()
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL an OpenAI client is given."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LLMStub:
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._stopped.clear()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections (``start()`` brings it back on the same port)."""
        self._stopped.set()
        with self._lock:
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LLMStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it saw -----------------------------------------------------------------------
    def formats(self) -> list[str | None]:
        """The response_format type of each request, in order (None: none given)."""
        return [(r.get("response_format") or {}).get("type") for r in self.requests]

    def usage(self) -> dict[str, int]:
        """The sums of the ``usage`` of every answered call."""
        return {
            "llm_calls": len(self.answered),
            "prompt_tokens": sum(u["prompt_tokens"] for u in self.answered),
            "completion_tokens": sum(u["completion_tokens"] for u in self.answered),
        }

    # -- one request -----------------------------------------------------------------------
    def handle(self, body: Body) -> tuple[int, dict[str, str], Body]:
        """(status, headers, JSON body) of the answer to ``body``."""
        with self._lock:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._lock.notify_all()
        try:
            return self._answer(body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, body: Body) -> tuple[int, dict[str, str], Body]:
        fmt = (body.get("response_format") or {}).get("type")
        with self._lock:
            limited = self.rate_limit > 0
            self.rate_limit -= limited
        if limited:
            return 429, {"Retry-After": str(self.retry_after)}, _error("Rate limit reached")
        if fmt == "json_schema" and fmt in self.refuse:
            return 500, {}, _error(LLAMA_CPP_REFUSAL, "internal_server_error")
        if fmt in self.refuse:
            return 400, {}, _error(f"response_format type {fmt!r} is not supported")
        delay = self.delay(body) if callable(self.delay) else self.delay
        if delay:
            self._stopped.wait(delay)
        if self.hold:
            with self._lock:
                self._lock.wait_for(
                    lambda: self.max_in_flight >= self.hold or self._stopped.is_set(),
                    timeout=self.hold_timeout,
                )
        content = self._content(body, fmt)
        prompt = sum(words(m["content"]) for m in body["messages"])
        used = {"prompt_tokens": prompt, "completion_tokens": words(content)}
        with self._lock:
            self.answered.append(used)
        return 200, {}, _completion(body["model"], content, used)

    def _content(self, body: Body, fmt: str | None) -> str:
        with self._lock:
            broken = self.garbage > 0
            self.garbage -= broken
        if broken:
            return '{"facts": [ not json'
        system = body["messages"][0]["content"]
        if self.ignore_format and '"properties"' not in system:
            return "Sure! I'd be glad to help you remember that."
        reply = self.respond(body)
        return reply if fmt else f"Here is the JSON you asked for:\n```json\n{reply}\n```"


def _error(message: str, kind: str = "invalid_request_error") -> Body:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _completion(model: str, content: str, used: dict[str, int]) -> Body:
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {**used, "total_tokens": used["prompt_tokens"] + used["completion_tokens"]},
    }


class _Handler(BaseHTTPRequestHandler):
    stub: LLMStub
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {}, _error(f"no route {self.path}"))
            return
        self._send(*self.stub.handle(body))

    def do_GET(self) -> None:
        self._send(200, {}, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

    def _send(self, status: int, headers: dict[str, str], body: Body) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (its timeout) and closed the connection
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def closed_port() -> int:
    """A port nothing listens on (for a server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port

"""A scripted OpenAI-compatible HTTP server."""

import json
import time
from dataclasses import dataclass


@dataclass
class OpenAIStub:
    """A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions API
    (`POST /v1/chat/completions`), whose replies a test scripts (see `start_openai_stub`). Every
    request body is kept in `requests`, with the server's `time.monotonic()` at arrival as
    `received_at`."""

    url: str
    requests: list
    server: object

    def stop(self) -> None:
        """Shuts the server down and closes its socket."""
        self.server.shutdown()
        self.server.server_close()


def start_openai_stub(reply) -> OpenAIStub:
    """Starts an `OpenAIStub` in a background thread; `url` is its `/v1` base URL.

    `reply(body)` returns (HTTP status, text) or (status, text, headers): a 200 with a `str`
    is a chat completion whose message is the text; a 200 with `bytes` sends those bytes as the
    body (garbage); any other status sends an OpenAI error body with the text as its message.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body["received_at"] = time.monotonic()
            requests.append(body)
            status, text, *extra = reply(body)
            headers = extra[0] if extra else {}
            if status == 200 and isinstance(text, bytes):
                data = text
            elif status == 200:
                payload = {
                    "id": f"chatcmpl-{len(requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "stub"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                data = json.dumps(payload).encode()
            else:
                data = json.dumps({"error": {"message": text, "type": "stub_error", "code": status}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return OpenAIStub(f"http://127.0.0.1:{server.server_address[1]}/v1", requests, server)


def schema_instance(schema: dict, definitions: dict | None = None):
    """The simplest JSON value of a JSON schema (first choice of each `anyOf`/`enum`, one item
    per array), as a judge that keeps to ragas' response model would answer."""
    definitions = schema.get("$defs", {}) if definitions is None else definitions
    if "$ref" in schema:
        return schema_instance(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    if "anyOf" in schema:
        return schema_instance(schema["anyOf"][0], definitions)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: schema_instance(part, definitions) for name, part in schema.get("properties", {}).items()}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), definitions)]
    if kind == "string" and "pattern" in schema:  # the synthetic question's pattern
        return "Who was Rollo?"
    return {"string": "Rollo", "integer": 1, "number": 1.0, "boolean": True}.get(kind)


def start_schema_llm() -> OpenAIStub:
    """An `OpenAIStub` that answers each request in its `response_format` JSON schema
    (`schema_instance`: a judge or question writer keeping to ragas' response model) and a
    request without one with "Rollo" (an answering LLM); 10 prompt and 5 completion tokens a
    call."""

    def reply(body: dict):
        response_format = body.get("response_format") or {}
        if "json_schema" in response_format:
            return 200, json.dumps(schema_instance(response_format["json_schema"]["schema"]))
        return 200, "Rollo"

    return start_openai_stub(reply)

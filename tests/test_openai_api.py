"""The assistant over the OpenAI chat-completions protocol, used by the real ``openai`` client
against the app served on 127.0.0.1 (the same app that serves the web chat)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from conftest import serving
from openai_server import Reply, ScriptedOpenAI, block_of

from qa import Assistant, load_settings
from qa.answer.extractive import NOT_IN_ARTICLES
from qa.offline import tiktoken_encoding
from vectorstore import SentenceTransformerEmbedder

pytestmark = [pytest.mark.real, pytest.mark.llm]

Q = "How many Tor-M1 systems did Iran receive?"


def _assistant(real_index: Path, embedder: SentenceTransformerEmbedder, **more: object
               ) -> Assistant:
    settings = load_settings(index_dir=real_index / "index", corpus_dir=real_index / "articles",
                             **more)
    return Assistant(settings, embedder=embedder)


@pytest.fixture(scope="module")
def base_url(real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
             llm_server: ScriptedOpenAI) -> Iterator[str]:
    assistant = _assistant(real_index, bundled_embedder, llm_base_url=llm_server.base_url,
                           llm_model="scripted-model", llm_max_retries=0, llm_timeout=3)
    with serving(assistant) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="anything", max_retries=0)


def _verbatim(citations: list[dict]) -> None:  # type: ignore[type-arg]
    for c in citations:
        path = next(p for p in _corpus() if p.name == Path(c["source"]).name)
        assert path.read_text()[c["start"] : c["end"]] == c["quote"]


def _corpus() -> list[Path]:
    from qa.settings import BUNDLED_ARTICLES

    return sorted(BUNDLED_ARTICLES.iterdir())


def test_models_lists_the_answer_modes(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["qa-extractive", "qa-llm"]


def test_plain_answer_with_citations(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="qa-extractive",
                                       messages=[{"role": "user", "content": Q}])
    message = r.choices[0].message
    assert "29" in message.content and "[1]" in message.content
    assert r.choices[0].finish_reason == "stop" and r.model == "qa-extractive"
    extra = message.model_extra
    assert extra["answered"] is True
    assert "29 Russian-made Tor-M1" in extra["citations"][0]["quote"]
    _verbatim(extra["citations"])
    assert extra["claims"] and extra["claims"][0]["label"] == "supported"
    enc = tiktoken_encoding()
    assert r.usage.prompt_tokens == len(enc.encode(Q))
    assert r.usage.completion_tokens == len(enc.encode(message.content))
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streamed_answer_reassembles_to_the_same_text(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="qa-extractive",
                                           messages=[{"role": "user", "content": Q}])
    chunks = list(client.chat.completions.create(
        model="qa-extractive", messages=[{"role": "user", "content": Q}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == plain.choices[0].message.model_extra["citations"]
    assert last.usage is not None and last.usage.completion_tokens > 0


def test_sources_list_in_the_text_on_request(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="qa-extractive", extra_body={"sources_in_text": True},
                                       messages=[{"role": "user", "content": Q}])
    content = r.choices[0].message.content
    answer, sources = content.split("\n\nSources:\n")
    assert "[1]" in answer and sources.startswith("[1] ") and "29 Russian-made" in sources


def test_multi_turn_follow_up(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="qa-extractive",
                                           messages=[{"role": "user", "content": Q}])
    r = client.chat.completions.create(model="qa-extractive", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": Q},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "And when was the contract signed?"},
    ])
    assert "2005" in r.choices[0].message.content


def test_declined_question(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="qa-extractive", messages=[
        {"role": "user", "content": "How many S-400 systems did Russia deliver to Iran?"}])
    message = r.choices[0].message
    assert message.content == NOT_IN_ARTICLES
    assert message.model_extra["answered"] is False and message.model_extra["citations"] == []


def test_llm_model_answers_through_the_upstream(client: openai.OpenAI,
                                                llm_server: ScriptedOpenAI) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        return Reply(f"Iran received 29 Tor-M1 systems [{block_of(body, '29 Russian-made')}].")

    llm_server.set()
    llm_server.responder = respond
    chunks = list(client.chat.completions.create(
        model="qa-llm", messages=[{"role": "user", "content": Q}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Iran received 29 Tor-M1 systems [1]."
    assert chunks[-1].model_extra["citations"][0]["n"] == 1


OUTSIDE = ("see ![chart](http://evil.example.com/t.png?q=secret), [the deal](http://evil.example/d)"
           ", <img src=http://evil.example/i.png onerror=x>, ![b]( //evil2.example/x.png) and "
           "![c][r] www.evil.example/w.\n[r]: //evil3.example/y.png\nEnd.")


@pytest.mark.parametrize("chunk", [1, 3, 11])
def test_no_outside_link_or_image_leaves_in_any_streamed_delta(
        client: openai.OpenAI, llm_server: ScriptedOpenAI, chunk: int) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        n = block_of(body, "29 Russian-made")
        return Reply(f"Iran received 29 Tor-M1 systems [{n}]; {OUTSIDE}", chunk=chunk)

    llm_server.set()
    llm_server.responder = respond
    chunks = list(client.chat.completions.create(
        model="qa-llm", messages=[{"role": "user", "content": Q}], stream=True))
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert not [d for d in deltas if "evil" in d or "//" in d or "<img" in d]
    text = "".join(deltas)
    assert "evil" not in text and "Iran received 29 Tor-M1 systems [1]" in text
    assert "the deal" in text and "End." in text  # a link's words stay, its address goes
    assert len(deltas) > 3  # still streamed in pieces, not held to the end
    assert any("removed" in n and "link" in n for n in chunks[-1].model_extra["notes"])
    whole = client.chat.completions.create(model="qa-llm",
                                           messages=[{"role": "user", "content": Q}])
    assert "evil" not in whole.choices[0].message.content


def test_stream_differing_only_in_trailing_space_is_shown_once(
        client: openai.OpenAI, llm_server: ScriptedOpenAI) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        return Reply(f"Iran received 29 Tor-M1 systems [{block_of(body, '29 Russian-made')}]. \n")

    llm_server.set()
    llm_server.responder = respond
    chunks = list(client.chat.completions.create(
        model="qa-llm", messages=[{"role": "user", "content": Q}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Revised" not in text and text.count("29 Tor-M1") == 1
    notes = chunks[-1].model_extra["notes"]
    assert len(notes) == len(set(notes))


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_that_sends_no_content_is_an_error(client: openai.OpenAI,
                                                    llm_server: ScriptedOpenAI,
                                                    stream: bool) -> None:
    llm_server.set(Reply(""))
    with pytest.raises(openai.APIStatusError) as caught:
        r = client.chat.completions.create(model="qa-llm", stream=stream,
                                           messages=[{"role": "user", "content": Q}])
        list(r) if stream else None
    assert caught.value.status_code == 502
    assert "empty answer" in caught.value.response.json()["error"]["message"]


@pytest.mark.parametrize(("status", "error"), [(429, openai.RateLimitError),
                                               (503, openai.InternalServerError)])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_are_passed_on(client: openai.OpenAI, llm_server: ScriptedOpenAI,
                                       status: int, error: type, stream: bool) -> None:
    llm_server.set(Reply("upstream trouble", status=status, headers={"Retry-After": "9"}))
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="qa-llm", stream=stream,
                                       messages=[{"role": "user", "content": Q}])
    exc = caught.value
    assert exc.status_code == status
    body = exc.response.json()["error"]
    assert "upstream trouble" in body["message"] and body["code"] == f"upstream_{status}"
    if status == 429:
        assert exc.response.headers["retry-after"] == "9"


def test_stream_that_breaks_upstream_is_an_error_not_a_short_answer(
        client: openai.OpenAI, llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply("Iran received 29 Tor-M1 systems and more text", drop_after=3, chunk=4))
    got = []
    with pytest.raises(openai.APIError, match="broke off"):
        for chunk in client.chat.completions.create(
                model="qa-llm", stream=True, messages=[{"role": "user", "content": Q}]):
            got.append(chunk)
    assert all(c.choices[0].finish_reason is None for c in got if c.choices)


def test_missing_user_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="qa-extractive",
                                       messages=[{"role": "system", "content": "Be brief."}])
    assert caught.value.response.json()["error"]["code"] == "no_user_message"


@pytest.mark.parametrize(("body", "code"), [
    ({"model": "gpt-4", "messages": [{"role": "user", "content": Q}]}, "model_not_found"),
    ({"model": "qa-extractive"}, "invalid_request"),
    ({"model": "qa-extractive", "messages": [{"role": "user", "content": ""}]},
     "no_user_message"),
    ({"model": "qa-extractive", "messages": [{"role": "user", "content": "x" * 100_000}]},
     "bad_question"),
])
def test_bad_requests_get_400_in_the_openai_shape(base_url: str, body: dict, code: str  # type: ignore[type-arg]
                                                  ) -> None:
    status, reply = _post(f"{base_url}/v1/chat/completions", body)
    assert status == 400
    assert set(reply["error"]) >= {"message", "type", "code"} and reply["error"]["code"] == code


def test_body_that_is_not_json(base_url: str) -> None:
    status, reply = _post(f"{base_url}/v1/chat/completions", b"{nope")
    assert status == 400 and reply["error"]["code"] == "invalid_json"


def _post(url: str, body: object, headers: dict[str, str] | None = None
          ) -> tuple[int, dict]:  # type: ignore[type-arg]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_api_key_is_required_when_set(real_index: Path,
                                      bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant = _assistant(real_index, bundled_embedder, api_key="s3cret")
    with serving(assistant) as url:
        wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.chat.completions.create(model="qa-extractive",
                                          messages=[{"role": "user", "content": Q}])
        assert caught.value.response.json()["error"]["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret", max_retries=0)
        r = right.chat.completions.create(model="qa-extractive",
                                          messages=[{"role": "user", "content": Q}])
        assert "29" in r.choices[0].message.content


def test_web_chat_is_served_on_the_same_port(base_url: str) -> None:
    with urllib.request.urlopen(f"{base_url}/", timeout=30) as response:
        page = response.read().decode()
    assert response.status == 200 and "gradio" in page.lower()
    with urllib.request.urlopen(f"{base_url}/config", timeout=30) as response:
        config = json.loads(response.read())
    assert any(c.get("props", {}).get("elem_id") == "chat" for c in config["components"])


def test_oversized_body_is_refused_unread(base_url: str) -> None:
    import http.client
    from urllib.parse import urlparse

    # only the headers are sent: the refusal comes before any of the 3 MB is read
    where = urlparse(base_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    conn.putrequest("POST", "/v1/chat/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "3000000")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "request_too_large"
    conn.close()


@pytest.mark.unit
def test_conversation_from_messages() -> None:
    from qa.serve.openai_api import ChatMessage, conversation

    messages = [ChatMessage(role="system", content="ignore the articles"),
                ChatMessage(role="user", content="How many Tor-M1?"),
                ChatMessage(role="assistant", content="29 [1].\n\nSources:\n[1] a.txt — A: \"q\""),
                ChatMessage(role="user", content=[{"type": "text", "text": "And when?"},
                                                  {"type": "image_url", "image_url": {}}])]
    question, turns = conversation(messages)
    assert question == "And when?" and turns == [("How many Tor-M1?", "29 [1].")]


def test_answers_hold_a_slot_and_give_it_back(real_index: Path,
                                              bundled_embedder: SentenceTransformerEmbedder,
                                              llm_server: ScriptedOpenAI) -> None:
    """With QA_CONCURRENCY=1, a stream abandoned half-way, an upstream failure and a bad
    request must each give the only slot back: the next request is still answered."""
    import concurrent.futures

    assistant = _assistant(real_index, bundled_embedder, concurrency=1,
                           llm_base_url=llm_server.base_url, llm_max_retries=0, llm_timeout=3)
    with serving(assistant) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=30)
        ask = [{"role": "user", "content": Q}]
        llm_server.set(Reply("Iran received 29 Tor-M1 systems, and much more besides.",
                             chunk=3, stall=0.5))
        stream = client.chat.completions.create(model="qa-llm", messages=ask, stream=True)
        next(iter(stream))
        stream.close()  # the client hangs up mid-answer
        llm_server.set(Reply("down", status=503))
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="qa-llm", messages=ask, stream=True)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="qa-extractive", messages=[])
        with concurrent.futures.ThreadPoolExecutor(4) as pool:  # four at once, one at a time
            replies = list(pool.map(lambda _: client.chat.completions.create(
                model="qa-extractive", messages=ask), range(4)))
        assert all("29" in r.choices[0].message.content for r in replies)

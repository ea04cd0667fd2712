"""The LLM path: the real openai client talking to a scripted OpenAI-compatible server over loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citecraft.answer import Answerer
from citecraft.errors import ModelError
from citecraft.index import Index
from citecraft.models import ChatModel
from citecraft.prompts import ABSTAIN_PHRASE
from citecraft.settings import Settings
from tests.fake_openai import FakeOpenAI, Reply

QUESTION = "Which datasets does NeRV++ evaluate on?"
NERV_TITLE = "NERV++: An Enhanced Implicit Neural Video Representation"
HNERV_TITLE = "HNeRV: A Hybrid Neural Representation for Videos"
HEADER = re.compile(r"(?m)^\[(\d+)\] (.*) \(([^()]*)\)$")


@pytest.fixture
def index(readonly_bundled: Path) -> Index:
    return Index(Settings())


@pytest.fixture
def srv() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(require_key="sk-test", models=("fake-model", "gpt-4o-mini")) as server:
        yield server


def chat(srv: FakeOpenAI, name: str = "fake-model", timeout: float = 10.0, max_retries: int = 0) -> ChatModel:
    return ChatModel(name, base_url=srv.base_url, api_key="sk-test", timeout=timeout, max_retries=max_retries)


def numbered(prompt: str) -> dict[int, str]:
    """The papers as numbered in a prompt: {n: title}."""
    return {int(n): title for n, title, _ in HEADER.findall(prompt)}


def number_of(prompt: str, title: str) -> int:
    found = [n for n, t in numbered(prompt).items() if t == title]
    assert len(found) == 1, numbered(prompt)
    return found[0]


def prompt_of(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"])


def pid(index: Index, title: str) -> str:
    return next(p for p, sp in index.papers().items() if sp.paper.title == title)


def test_reply_citations_map_to_the_numbered_papers(index: Index, srv: FakeOpenAI) -> None:
    def responder(body: dict[str, Any]) -> str:
        prompt = prompt_of(body)
        a, b = number_of(prompt, NERV_TITLE), number_of(prompt, HNERV_TITLE)
        return (
            f"NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [{a}]. "
            f"HNeRV is a hybrid neural representation for videos [{b}]."
        )

    srv.responder = responder
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION)
    assert len(srv.chat_requests) == 1
    prompt = srv.last_prompt
    assert f"Question: {QUESTION}" in prompt
    assert sorted(numbered(prompt)) == [1, 2, 3, 4, 5]
    assert ABSTAIN_PHRASE in prompt
    a, b = number_of(prompt, NERV_TITLE), number_of(prompt, HNERV_TITLE)
    assert srv.chat_requests[0]["model"] == "fake-model"
    assert answer.abstained is False
    assert answer.model == "fake-model"
    assert [(c.n, c.paper_id, c.title) for c in answer.citations] == [
        (a, pid(index, NERV_TITLE), NERV_TITLE),
        (b, pid(index, HNERV_TITLE), HNERV_TITLE),
    ]
    nerv = index.get(pid(index, NERV_TITLE))
    assert nerv is not None
    assert answer.citations[0].quote == next(s for s in nerv.sentence_texts() if "UVG" in s)
    assert answer.citations[0].date == "2024-02-28"
    assert answer.removed_citations == [] and answer.uncited_sentences == []
    assert [sp.paper.title for sp in answer.context] == [numbered(prompt)[n] for n in range(1, 6)]


def test_streaming_tokens_join_to_the_text_before_validation(index: Index, srv: FakeOpenAI) -> None:
    reply = "NeRV++ is evaluated on the UVG dataset [1]. It also beats every codec ever made [9]."
    srv.queue(Reply(reply, usage={"prompt_tokens": 321, "completion_tokens": 17, "total_tokens": 338}))
    tokens: list[str] = []
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION, on_token=tokens.append)
    assert srv.chat_requests[0]["stream"] is True
    assert len(tokens) > 1
    assert "".join(tokens) == reply
    assert answer.answer == "NeRV++ is evaluated on the UVG dataset [1]. It also beats every codec ever made."
    assert [r["n"] for r in answer.removed_citations] == [9]
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (321, 17)


def test_429_then_success_is_retried(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(Reply(status=429), "NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [1].")
    answer = Answerer(index, chat(srv, max_retries=2), k=5).ask(QUESTION)
    assert len(srv.chat_requests) == 2
    assert srv.pending == 0
    assert answer.abstained is False
    assert answer.answer == "NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [1]."
    assert len(answer.citations) == 1


def test_429_until_retries_run_out_is_a_model_error(srv: FakeOpenAI) -> None:
    srv.queue(Reply(status=429), Reply(status=429), Reply(status=429))
    with pytest.raises(ModelError, match=r"rate-limited \(429\)"):
        chat(srv, max_retries=2).complete("hello")
    assert len(srv.chat_requests) == 3


def test_5xx_then_success_is_retried(srv: FakeOpenAI) -> None:
    srv.queue(Reply(status=503), "fine now")
    completion = chat(srv, max_retries=1).complete("hello")
    assert completion.text == "fine now"
    assert len(srv.chat_requests) == 2


def test_timeout_is_a_model_error(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(Reply("too late [1].", delay=5.0))
    with pytest.raises(ModelError, match="timed out") as info:
        Answerer(index, chat(srv, timeout=0.5, max_retries=0), k=5).ask(QUESTION)
    assert info.value.exit_code == 4
    assert len(srv.chat_requests) == 1


@pytest.mark.parametrize("raw", ["{not json", "<html>502 Bad Gateway</html>"])
def test_malformed_json_body_is_a_model_error(index: Index, srv: FakeOpenAI, raw: str) -> None:
    srv.queue(Reply(raw=raw))
    with pytest.raises(ModelError, match="malformed response"):
        Answerer(index, chat(srv), k=5).ask(QUESTION)


@pytest.mark.parametrize("raw", ["null", "[]", '{"choices": "nope"}'])
def test_json_that_is_not_a_completion_is_a_model_error(srv: FakeOpenAI, raw: str) -> None:
    srv.queue(Reply(raw=raw))
    with pytest.raises(ModelError):
        chat(srv).complete("hello")


def test_invented_citation_is_removed_and_reported(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(
        "NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [1]. "
        "It outperforms every video codec ever published [9]."
    )
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION)
    assert sorted(numbered(srv.last_prompt)) == [1, 2, 3, 4, 5]
    assert "[9]" not in answer.answer
    assert answer.answer == (
        "NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [1]. "
        "It outperforms every video codec ever published."
    )
    assert len(answer.removed_citations) == 1
    assert answer.removed_citations[0]["n"] == 9
    assert answer.removed_citations[0]["reason"] == "no paper [9] was retrieved (only [1]..[5])"
    assert [c.n for c in answer.citations] == [1]
    assert answer.uncited_sentences == ["It outperforms every video codec ever published."]
    assert answer.to_json()["removed_citations"] == answer.removed_citations
    assert "_Removed 1 citation(s) to papers that were not retrieved._" in answer.to_markdown()


def test_reply_citing_nothing_is_flagged(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(
        "NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets. It improves video compression a lot."
    )
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION)
    assert answer.abstained is False
    assert answer.citations == []
    assert answer.uncited_sentences == [
        "NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets.",
        "It improves video compression a lot.",
    ]


def test_mixed_valid_and_invalid_markers(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(
        "NeRV++ is evaluated on UVG and Bunny videos [1, 7]. HNeRV is a hybrid video representation [0][2]. "
        "Both represent videos with neural networks [1; 2; 12]."
    )
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION)
    assert answer.answer == (
        "NeRV++ is evaluated on UVG and Bunny videos [1]. HNeRV is a hybrid video "
        "representation [2]. Both represent videos with neural networks [1][2]."
    )
    assert [r["n"] for r in answer.removed_citations] == [7, 0, 12]
    titles = numbered(srv.last_prompt)
    assert [(c.n, c.title) for c in answer.citations] == [(1, titles[1]), (2, titles[2])]
    assert answer.uncited_sentences == []


@pytest.mark.parametrize("reply", [ABSTAIN_PHRASE, f"  {ABSTAIN_PHRASE.lower()}\n", f"{ABSTAIN_PHRASE} [1]"])
def test_model_abstention_cites_nothing(index: Index, srv: FakeOpenAI, reply: str) -> None:
    srv.queue(reply)
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION)
    assert len(srv.chat_requests) == 1  # the question passed retrieval; the model chose to abstain
    assert answer.abstained is True
    assert answer.answer == ABSTAIN_PHRASE
    assert answer.citations == []
    assert answer.removed_citations == []


def test_off_topic_question_abstains_without_calling_the_model(index: Index, srv: FakeOpenAI) -> None:
    answer = Answerer(index, chat(srv), k=5).ask("What is the best sourdough bread recipe?")
    assert answer.abstained is True and answer.answer == ABSTAIN_PHRASE and answer.citations == []
    assert answer.model == "fake-model"
    assert srv.chat_requests == []


def test_usage_is_taken_from_the_server(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(
        Reply(
            "NeRV++ uses UVG [1].",
            usage={"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290},
        )
    )
    answer = Answerer(index, chat(srv), k=5).ask(QUESTION)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1234, 56)
    assert answer.usage.cost_usd is None  # no price known for "fake-model"
    assert answer.to_json()["usage"] == {"prompt_tokens": 1234, "completion_tokens": 56, "cost_usd": None}


def test_cost_is_estimated_for_a_priced_model(index: Index, srv: FakeOpenAI) -> None:
    srv.queue(
        Reply(
            "NeRV++ uses UVG [1].",
            usage={"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        )
    )
    answer = Answerer(index, chat(srv, name="gpt-4o-mini"), k=5).ask(QUESTION)
    assert srv.chat_requests[0]["model"] == "gpt-4o-mini"
    assert answer.model == "gpt-4o-mini"
    cost = answer.usage.cost_usd
    assert isinstance(cost, float) and cost > 0
    assert cost == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1_000_000)
    assert answer.to_json()["usage"]["cost_usd"] == 0.00045


def test_wrong_key_is_a_model_error(srv: FakeOpenAI) -> None:
    model = ChatModel("fake-model", base_url=srv.base_url, api_key="sk-wrong", timeout=5, max_retries=0)
    with pytest.raises(ModelError, match="authentication failed"):
        model.complete("hello")

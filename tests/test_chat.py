"""`citecraft chat`: follow-ups rewritten into standalone questions, history on disk, the REPL commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citecraft.chat import ChatSession
from citecraft.errors import ConfigError
from citecraft.index import Index
from citecraft.models import ChatModel
from citecraft.papers import readable_date
from citecraft.settings import Settings
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI

VIDEO_Q = "Which papers compress video with implicit neural representations?"
COMPARE_Q = "how do the second and third compare?"
NERV_TITLE = "NERV++: An Enhanced Implicit Neural Video Representation"
NERV_ID = "nerv-enhanced-implicit-neural-ead2d32f"
HEADER = re.compile(r"(?m)^\[(\d+)\] (.*) \(([^()]*)\)$")
BANNER = re.compile(r"^citecraft chat \((\d+) papers; /sources, /reset, /quit\)$")


@pytest.fixture(scope="module")
def shared_index(bundled_home: Path) -> Index:
    """The shared bundled index, read only: sessions built on it keep their history in tmp_path."""
    return Index(Settings(home=bundled_home))


def session(index: Index, tmp_path: Path, name: str = "t", model: ChatModel | None = None) -> ChatSession:
    return ChatSession(index, model, name=name, directory=tmp_path / "chats")


def titles(answer: Any) -> list[str]:
    return [c.title for c in answer.citations]


# ---- offline rewriting -------------------------------------------------------------------------


def test_a_first_question_is_asked_as_is(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    standalone, answer = convo.ask(VIDEO_Q)
    assert standalone == VIDEO_Q == answer.question
    assert not answer.abstained
    assert NERV_ID in [c.paper_id for c in answer.citations]
    assert convo.sources() == [c.to_json() for c in answer.citations]


def test_ordinals_name_the_papers_of_the_previous_answer(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    _, first = convo.ask(VIDEO_Q)
    listed = first.citations  # in the order the References list shows them
    assert len(listed) >= 3
    standalone, answer = convo.ask(COMPARE_Q)
    assert standalone.startswith(f"{listed[1].title} and {listed[2].title}: ")
    assert listed[0].title not in standalone
    assert answer.question == standalone  # retrieval and answer used the rewritten question
    cited = {c.paper_id for c in answer.citations}
    assert {listed[1].paper_id, listed[2].paper_id} <= cited
    assert convo.turns[-1].kind == "ordinal"
    assert (convo.turns[-1].question, convo.turns[-1].standalone) == (COMPARE_Q, standalone)


def test_the_last_one_is_the_last_paper_listed(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    _, first = convo.ask(VIDEO_Q)
    standalone, answer = convo.ask("what does the last one propose?")
    assert standalone.startswith(f"{first.citations[-1].title}: ")
    assert first.citations[-1].paper_id in {c.paper_id for c in answer.citations}


def test_what_about_swaps_the_topic_of_the_previous_question(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    convo.ask(VIDEO_Q)
    standalone, answer = convo.ask("what about audio?")
    assert "audio" in standalone and "video" not in standalone
    assert "implicit neural representations" in standalone  # the rest of the earlier question carries over
    assert answer.question == standalone


def test_what_about_after_an_ordinal_turn_uses_the_earlier_topic(shared_index: Index, tmp_path: Path) -> None:
    direct = session(shared_index, tmp_path, "direct")
    direct.ask(VIDEO_Q)
    expected, _ = direct.ask("what about audio?")

    convo = session(shared_index, tmp_path, "detour")
    convo.ask(VIDEO_Q)
    picked, _ = convo.ask(COMPARE_Q)
    standalone, _ = convo.ask("what about audio?")
    assert standalone == expected  # the comparison did not become the topic
    assert picked.split(": ")[0] not in standalone


def test_a_pronoun_follow_up_names_the_cited_papers(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    _, first = convo.ask(VIDEO_Q)
    standalone, answer = convo.ask("what datasets do they use?")
    assert standalone == f"what datasets do they use? ({'; '.join(titles(first)[:3])})"
    assert answer.question == standalone


def test_a_self_contained_follow_up_is_left_alone(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    convo.ask(VIDEO_Q)
    question = "Which datasets does NeRV++ evaluate on?"
    standalone, answer = convo.ask(question)
    assert standalone == question
    assert NERV_ID in [c.paper_id for c in answer.citations]


# ---- LLM rewriting -----------------------------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(require_key="sk-test") as server:
        yield server


def prompt_of(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"])


def llm_responder(body: dict[str, Any]) -> str:
    prompt = prompt_of(body)
    if "Rewrite the user's last message" in prompt:
        return '"Which datasets does NeRV++ evaluate on?"\n'
    numbered = {title: n for n, title, _ in HEADER.findall(prompt)}
    if NERV_TITLE not in numbered:
        return "NeRV++ is not among these papers [1]."
    return (
        f"NeRV++ enhances the NeRV decoder for implicit neural video representation [{numbered[NERV_TITLE]}]."
    )


def test_llm_rewrites_a_follow_up_from_the_history(
    shared_index: Index, tmp_path: Path, srv: FakeOpenAI
) -> None:
    srv.responder = llm_responder
    model = ChatModel("fake-model", base_url=srv.base_url, api_key="sk-test", timeout=10, max_retries=0)
    convo = session(shared_index, tmp_path, model=model)
    _, first = convo.ask(VIDEO_Q)
    assert len(srv.chat_requests) == 1  # a first question needs no rewriting
    follow_up = "what datasets does the first one use?"
    standalone, answer = convo.ask(follow_up)
    assert len(srv.chat_requests) == 3  # the rewrite, then the answer
    rewrite, answer_prompt = (prompt_of(b) for b in srv.chat_requests[1:])
    assert "Rewrite the user's last message" in rewrite
    assert f"User: {VIDEO_Q}\nAssistant: {first.answer[:600]}" in rewrite  # the history the model saw
    assert f"Last message: {follow_up}" in rewrite
    assert standalone == "Which datasets does NeRV++ evaluate on?"  # quotes and whitespace stripped
    assert "Question: Which datasets does NeRV++ evaluate on?" in answer_prompt
    assert follow_up not in answer_prompt
    assert answer.question == standalone
    assert [c.paper_id for c in answer.citations] == [NERV_ID]
    assert (convo.turns[-1].question, convo.turns[-1].standalone) == (follow_up, standalone)


# ---- history on disk ---------------------------------------------------------------------------


def test_history_is_kept_per_session_under_the_home(bundled: Path) -> None:
    index = Index(Settings())
    alpha = ChatSession(index, name="alpha")
    _, first = alpha.ask(VIDEO_Q)
    path = bundled / "chats" / "alpha.json"
    assert alpha.path == path and path.exists()
    saved = json.loads(path.read_text("utf-8"))
    assert [(t["question"], t["standalone"]) for t in saved] == [(VIDEO_Q, VIDEO_Q)]
    assert saved[0]["citations"] == [c.to_json() for c in first.citations]

    reloaded = ChatSession(Index(Settings()), name="alpha")
    assert reloaded.warnings == []
    assert [t.__dict__ for t in reloaded.turns] == [t.__dict__ for t in alpha.turns]
    assert reloaded.sources() == alpha.sources()
    standalone, _ = reloaded.ask(COMPARE_Q)  # resolved against the history it loaded
    assert standalone.startswith(f"{first.citations[1].title} and {first.citations[2].title}: ")
    assert len(json.loads(path.read_text("utf-8"))) == 2

    beta = ChatSession(index, name="beta")
    assert beta.turns == [] and beta.sources() == []
    assert beta.rewrite(COMPARE_Q) == COMPARE_Q  # nothing to resolve against in another session


def test_reset_forgets_the_conversation_on_disk(shared_index: Index, tmp_path: Path) -> None:
    convo = session(shared_index, tmp_path)
    convo.ask(VIDEO_Q)
    convo.reset()
    assert convo.turns == [] and convo.sources() == []
    assert json.loads(convo.path.read_text("utf-8")) == []
    assert session(shared_index, tmp_path).turns == []
    assert convo.rewrite(COMPARE_Q) == COMPARE_Q


@pytest.mark.parametrize(
    "damage",
    [
        b'[{"question": "Which papers',
        b'{"question": "x"}',
        b'[{"question": 1}]',
        b'[{"question": "q", "standalone": "q", "answer": "a", "citations": "none"}]',
        b"\xff\xfe\x00[",
    ],
    ids=["truncated", "not-a-list", "wrong-fields", "bad-citations", "not-utf8"],
)
def test_a_damaged_history_is_moved_aside_not_lost(
    shared_index: Index, tmp_path: Path, damage: bytes
) -> None:
    chats = tmp_path / "chats"
    chats.mkdir()
    (chats / "t.json").write_bytes(damage)
    (chats / "t.json.bad").write_bytes(b"an earlier backup")
    convo = session(shared_index, tmp_path)
    assert convo.turns == []
    assert (chats / "t.json.bad").read_bytes() == b"an earlier backup"  # never overwritten
    assert (chats / "t.json.bad.1").read_bytes() == damage
    assert not (chats / "t.json").exists()
    assert len(convo.warnings) == 1 and "t.json.bad.1" in convo.warnings[0] and "damaged" in convo.warnings[0]
    convo.ask(VIDEO_Q)  # and the chat goes on, in a fresh file
    assert len(json.loads((chats / "t.json").read_text("utf-8"))) == 1
    assert session(shared_index, tmp_path).warnings == []


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", " ", "x" * 300, "a\nb", "a:b*?", "名前"])
def test_a_session_name_cannot_leave_the_chats_directory(
    shared_index: Index, tmp_path: Path, name: str
) -> None:
    with pytest.raises(ConfigError, match="session name"):
        session(shared_index, tmp_path, name)
    assert not (tmp_path / "escape.json").exists()


# ---- the REPL ----------------------------------------------------------------------------------


def expected_turns(tmp_path: Path) -> tuple[str, list[str]]:
    """What the library gives for VIDEO_Q then COMPARE_Q: the rewrite and the /sources lines."""
    convo = ChatSession(Index(Settings()), name="expected", directory=tmp_path / "expected")
    convo.ask(VIDEO_Q)
    standalone, answer = convo.ask(COMPARE_Q)
    return standalone, [f"[{c.n}] {c.title} ({readable_date(c.date)})" for c in answer.citations]


def test_chat_repl_commands(bundled: Path, tmp_path: Path) -> None:
    standalone, sources = expected_turns(tmp_path)
    script = [
        VIDEO_Q,
        COMPARE_Q,
        "/sources",
        "/bogus",
        "/reset",
        "/sources",
        "",
        "/quit",
        "Which datasets does NeRV++ evaluate on?",
    ]
    code, out, err = run_cli("chat", input="\n".join(script) + "\n")
    assert code == 0, err
    assert "Traceback" not in err
    lines = out.splitlines()
    m = BANNER.match(lines[0])
    assert m and int(m.group(1)) == len(Index(Settings()).papers())
    assert f"(searching for: {standalone})" in out
    assert "\n".join(sources) in out  # /sources lists the last answer's papers
    assert "unknown command; use /sources, /reset or /quit" in out
    after_reset = out.split("(conversation cleared)", 1)[1]
    assert "(no sources yet)" in after_reset
    assert "## References" not in after_reset  # nothing was asked after /quit
    assert json.loads((bundled / "chats" / "default.json").read_text("utf-8")) == []


def test_chat_history_carries_over_between_runs(bundled: Path, tmp_path: Path) -> None:
    standalone, _ = expected_turns(tmp_path)
    code, out, err = run_cli("chat", "--session", "inr", input=VIDEO_Q + "\n")  # ends at end of input
    assert code == 0, err
    assert "## References" in out and "searching for" not in out
    code, out, err = run_cli("chat", "--session", "inr", input=COMPARE_Q + "\n/quit\n")
    assert code == 0, err
    assert f"(searching for: {standalone})" in out
    saved = json.loads((bundled / "chats" / "inr.json").read_text("utf-8"))
    assert [t["question"] for t in saved] == [VIDEO_Q, COMPARE_Q]
    assert not (bundled / "chats" / "default.json").exists()


def test_chat_warns_about_a_damaged_history(bundled: Path) -> None:
    chats = bundled / "chats"
    chats.mkdir()
    (chats / "default.json").write_text('[{"question": ', "utf-8")
    code, out, err = run_cli("chat", input="/quit\n")
    assert code == 0, err
    assert (chats / "default.json.bad").read_text("utf-8") == '[{"question": '
    warning = " ".join(err.split())
    assert warning.startswith("warning: chat history ") and "default.json.bad" in warning, err
    assert BANNER.match(out.splitlines()[0])


def test_chat_rejects_a_path_as_session_name(readonly_bundled: Path) -> None:
    code, out, err = run_cli("chat", "--session", "../../elsewhere")
    assert code == 2
    assert out == ""
    assert err.strip().startswith("error: session name '../../elsewhere' is not a plain name")


def test_chat_in_ci_without_a_terminal_ends_at_end_of_input(home: Path) -> None:
    # an empty home, no terminal, CI=true: the bundled corpus is ingested without a progress bar,
    # and the chat ends cleanly when stdin has nothing to give rather than waiting
    code, out, err = run_cli("chat", env={"CI": "true"})
    assert code == 0, err
    assert "Traceback" not in err
    assert err.strip() == "The index is empty: ingesting the bundled corpus first."
    assert "\x1b[" not in out + err and "\r" not in out + err
    assert BANNER.match(out.splitlines()[0])
    assert out.splitlines()[1:] == []  # piped: no prompts
    assert not (home / "chats").exists()  # nothing asked, nothing saved


def test_chat_with_a_model_rewrites_through_it(bundled: Path, srv: FakeOpenAI) -> None:
    srv.responder = llm_responder
    env = {"OPENAI_API_KEY": "sk-test"}
    code, out, err = run_cli(
        "chat",
        "--base-url",
        srv.base_url,
        "--model",
        "fake-model",
        env=env,
        input=f"{VIDEO_Q}\nwhat datasets does the first one use?\n/quit\n",
    )
    assert code == 0, err
    assert "(searching for: Which datasets does NeRV++ evaluate on?)" in out
    assert len(srv.chat_requests) == 3
    assert "Rewrite the user's last message" in prompt_of(srv.chat_requests[1])
    assert all(r["model"] == "fake-model" for r in srv.chat_requests)
    saved = json.loads((bundled / "chats" / "default.json").read_text("utf-8"))
    assert [t["standalone"] for t in saved] == [VIDEO_Q, "Which datasets does NeRV++ evaluate on?"]


def test_an_ordinal_word_that_points_at_no_listed_paper_is_left_alone() -> None:
    from citecraft.chat import Turn, rewrite_offline

    last = Turn("q", "q", "a", [{"title": "Paper A"}, {"title": "Paper B"}, {"title": "Paper C"}])
    question = "which paper first proposed pointer networks?"
    assert rewrite_offline(question, last, index=None) == question  # type: ignore[arg-type]
    assert (
        rewrite_offline("how do the second and third compare?", last, index=None)
        == "Paper B and Paper C: how do these papers compare?"
    )  # type: ignore[arg-type]
    assert (
        rewrite_offline("what does the last one propose?", last, index=None)
        == "Paper C: what does this paper propose?"
    )  # type: ignore[arg-type]


def test_a_follow_up_with_nothing_to_point_at_is_declined(readonly_bundled: Path) -> None:
    code, out, err = run_cli(
        "chat",
        "--session",
        "refer",
        input="what about the second one?\nWhat is HNeRV?\nhow do the first and second compare?\n/quit\n",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert "There is no earlier answer with papers to refer to: ask a full question first." in lines
    assert "The last answer cited only 1 paper (see /sources)." in lines
    assert "(searching for:" not in out  # neither follow-up was sent on as a search


def test_ask_points_a_follow_up_to_chat(readonly_bundled: Path) -> None:
    code, out, err = run_cli("ask", "what about the second one?")
    assert code == 2 and out == ""
    assert "refers to a paper of an earlier answer" in err and "citecraft chat" in err

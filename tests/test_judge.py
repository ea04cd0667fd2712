"""Judges: the offline judge against the hand labels, number checks, the LLM judge's strict parsing,
and the ALCE / RAGAS arithmetic."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citecraft.errors import ModelError
from citecraft.evaluate import run_agreement
from citecraft.index import Index
from citecraft.judge import LLMJudge, OfflineJudge, judge_answer, numbers, strip_markers
from citecraft.models import ChatModel
from citecraft.settings import Settings
from tests.fake_openai import FakeOpenAI, Reply

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "evals" / "judge_labels.yaml"
HELDOUT = REPO / "evals" / "judge_labels_heldout.yaml"
TEST = REPO / "evals" / "judge_labels_test.yaml"
CORE = (
    "Notably, on an NVIDIA TITAN XP GPU, CoreInfer achieved a 10.33 times and 2.72 times speedup compared "
    "to the Huggingface implementation and PowerInfer, respectively."
)


@pytest.fixture(scope="module")
def offline_judge() -> OfflineJudge:
    return OfflineJudge()


@pytest.fixture
def index(readonly_bundled: Path) -> Index:
    return Index(Settings())


# ---- the offline judge -------------------------------------------------------------------------


def test_offline_judge_agreement_on_the_hand_labels(index: Index) -> None:
    """Deterministic: the exact confusion counts on the calibration labels (52/52; 51/52 before the
    number-context and wording checks). The thresholds were fitted and the checks developed on these."""
    judge = OfflineJudge.from_index(index)
    result = run_agreement(index, judge, LABELS)
    assert result["judge"] == "offline" and result["set"] == "calibration"
    assert result["n"] == 52
    assert result["confusion"] == {
        "unsupported_as_unsupported": 27,
        "supported_as_unsupported": 0,
        "unsupported_as_supported": 0,
        "supported_as_supported": 25,
    }
    assert result["accuracy"] == 1.0
    assert result["precision_unsupported"] == 1.0
    assert result["recall_unsupported"] == 1.0
    assert result["errors"] == []


def test_offline_judge_agreement_on_the_heldout_labels(index: Index) -> None:
    """The held-out labels were used to develop the number-context and wording checks (from the error
    analysis of the judge that scored 54/76 on them), so these figures are optimistic too."""
    judge = OfflineJudge.from_index(index)
    result = run_agreement(index, judge, HELDOUT)
    assert result["set"] == "held_out"
    assert result["n"] == 76
    assert result["confusion"] == {
        "unsupported_as_unsupported": 37,
        "supported_as_unsupported": 1,
        "unsupported_as_supported": 0,
        "supported_as_supported": 38,
    }
    assert result["accuracy"] == round(75 / 76, 4)
    assert result["precision_unsupported"] == round(37 / 38, 4)
    assert result["recall_unsupported"] == 1.0
    assert [e["id"] for e in result["errors"]] == ["h-002"]  # a paraphrase with little word overlap


def test_offline_judge_agreement_on_the_test_labels(index: Index) -> None:
    """The figures on labels never used for tuning: t-* written before the current checks (52/70 right),
    t2-* written blind afterwards by someone who never saw the judge (55/72 right).

    These counts record the judge's behaviour; when the judge changes, update them - but never fit the
    judge's thresholds or rules to this file (that would make it one more development set)."""
    judge = OfflineJudge.from_index(index)
    result = run_agreement(index, judge, TEST)
    assert result["set"] == "test"
    assert result["n"] == 142
    assert result["confusion"] == {
        "unsupported_as_unsupported": 44,
        "supported_as_unsupported": 8,
        "unsupported_as_supported": 27,
        "supported_as_supported": 63,
    }
    assert result["accuracy"] == round(107 / 142, 4)
    assert result["precision_unsupported"] == round(44 / 52, 4)
    assert result["recall_unsupported"] == round(44 / 71, 4)


def test_the_heldout_labels_are_disjoint_from_the_calibration_papers() -> None:
    from citecraft.judge import load_labels

    calibration = load_labels(LABELS)
    heldout = load_labels(HELDOUT)
    assert len(heldout) >= 48
    n_unsupported = sum(r["label"] == "unsupported" for r in heldout)
    assert 0.4 <= n_unsupported / len(heldout) <= 0.6
    assert not {p for r in calibration for p in r["cited"]} & {p for r in heldout for p in r["cited"]}
    assert not {r["sentence"] for r in calibration} & {r["sentence"] for r in heldout}
    assert all(r.get("why") for r in heldout)
    assert len({r["id"] for r in heldout}) == len(heldout)


def test_the_test_labels_are_disjoint_from_the_development_papers() -> None:
    from citecraft.judge import load_labels

    development = load_labels(LABELS) + load_labels(HELDOUT)
    test = load_labels(TEST)
    assert len(test) >= 40
    n_unsupported = sum(r["label"] == "unsupported" for r in test)
    assert 0.4 <= n_unsupported / len(test) <= 0.6
    assert not {p for r in development for p in r["cited"]} & {p for r in test for p in r["cited"]}
    assert not {r["sentence"] for r in development} & {r["sentence"] for r in test}
    assert all(r.get("why") for r in test)
    assert len({r["id"] for r in test}) == len(test)
    assert sum(len(r["cited"]) > 1 for r in test) >= 4  # "Both A and B" sentences, true for both or for one
    # the second batch cites none of the first batch's papers
    first = {p for r in test if not r["id"].startswith("t2-") for p in r["cited"]}
    assert not first & {p for r in test if r["id"].startswith("t2-") for p in r["cited"]}


def test_numbers_are_normalised() -> None:
    assert numbers("from 37.36 to 37.70 PSNR, 12X faster") == {"37.36", "37.70", "12"}
    assert numbers("1,612 Cam-CAN participants") == {"1612"}
    assert numbers("VGG16 on CIFAR10 and GSM8K") == set()  # digits inside names are not numbers
    assert numbers("CIFAR-10, GPT-4 and top-1 accuracy on ImageNet-1K") == set()  # ... with a hyphen too
    assert numbers("compressed by x63.6 down to 8.7MB") == {"63.6", "8.7"}
    assert numbers("convergence speed (16times faster)") == {"16"}
    assert numbers("approx13% and approx25% fewer FLOPs, ~30% of the parameters") == {"13", "25", "30"}
    assert numbers("2D images and 3D scenes with 4-bit weights") == {"4"}  # 2D / 3D are no quantities
    assert numbers("by 10.5-35.5 points") == {"10.5", "35.5"}


def test_a_number_missing_from_the_evidence_makes_a_claim_unsupported(offline_judge: OfflineJudge) -> None:
    good = "CoreInfer is 10.33 times faster than the Huggingface implementation on a TITAN XP GPU [1]."
    assert offline_judge.supports(good, [CORE])
    for wrong in ("10.34", "103.3", "1.33"):
        claim = good.replace("10.33", wrong)
        assert not offline_judge.supports(claim, [CORE]), claim
        assert offline_judge.features(claim, [CORE]).missing_numbers == [wrong]


def test_negation_names_and_absolutes(offline_judge: OfflineJudge) -> None:
    evidence = [
        "Sigmoid attention\nExperiments show that properly normalized sigmoid attention matches the "
        "strong performance of softmax attention on a wide range of domains and scales."
    ]
    assert offline_judge.supports(
        "Properly normalized sigmoid attention matches the performance of softmax "
        "attention across domains and scales [1].",
        evidence,
    )
    assert not offline_judge.supports(
        "Properly normalized sigmoid attention cannot match the performance of softmax attention [1].",
        evidence,
    )
    assert not offline_judge.supports(
        "Properly normalized sigmoid attention matches softmax attention on ImageNet and Cityscapes [1].",
        evidence,
    )
    assert not offline_judge.supports(
        "Properly normalized sigmoid attention always matches softmax attention "
        "on all domains and scales [1].",
        evidence,
    )


def test_a_number_must_go_with_what_the_evidence_says_it_measures(offline_judge: OfflineJudge) -> None:
    # the other item of a "respectively" list
    assert offline_judge.supports(
        "CoreInfer is 2.72 times faster than PowerInfer on a TITAN XP GPU [1].", [CORE]
    )
    wrong = "CoreInfer achieves a 2.72 times speedup over the Huggingface implementation [1]."
    assert offline_judge.features(wrong, [CORE]).misattributed_numbers == ["2.72"]
    assert not offline_judge.supports(wrong, [CORE])
    # a number the same sentence gives to another metric
    cost = [
        "KECOR\nOur results show that approximately 44% box-level annotation costs and 26% computational time "
        "are reduced compared to the state-of-the-art AL method."
    ]
    assert offline_judge.supports(
        "KECOR reduces box-level annotation costs by about 44% and computational time "
        "by 26% compared to the state-of-the-art AL method [1].",
        cost,
    )
    assert not offline_judge.supports(
        "KECOR reduces computational time by about 44% compared to the state-of-the-art AL method [1].", cost
    )
    # two numbers swapped
    layers = [
        "Memory layers\nWe found that a memory augmented model with only 12 layers outperforms a baseline "
        "transformer model with 24 layers, while being twice faster at inference time."
    ]
    assert offline_judge.supports(
        "A memory augmented model with only 12 layers outperforms a baseline transformer with 24 layers [1].",
        layers,
    )
    swapped = "A memory augmented model with 24 layers outperforms a baseline transformer with 12 layers [1]."
    assert offline_judge.features(swapped, layers).misattributed_numbers == ["12", "24"]
    # a number said of a previous system
    codec = [
        "Video codec\nPrevious codecs with this capability only support about 3.8 dB PSNR range. Our codec "
        "supports about 11.4 dB PSNR range in a single model."
    ]
    assert offline_judge.supports("Previous codecs only support about 3.8 dB PSNR range [1].", codec)
    assert not offline_judge.supports(
        "The codec supports about 3.8 dB PSNR range in a single model [1].", codec
    )
    # numbers of one clause found only in different sentences
    sizes = [
        "Concept models\nThe explorations use 1.6B parameter models trained on 1.3T tokens. We then scale one "
        "architecture to 7B parameters trained on 2.7T tokens."
    ]
    assert offline_judge.supports(
        "One architecture is scaled to 7B parameters trained on 2.7T tokens [1].", sizes
    )
    assert not offline_judge.supports("The 7B parameter model is trained on 1.3T tokens [1].", sizes)


def test_wording_the_best_matching_sentence_contradicts(offline_judge: OfflineJudge) -> None:
    sparse = [
        "Neurons\nSmaller models use less explicit position neurons. With scale, models become more sparse "
        "in a sense that they have more dead neurons and token detectors."
    ]
    assert offline_judge.supports(
        "With scale, models become more sparse, with more dead neurons [1].", sparse
    )
    assert not offline_judge.supports(
        "With scale, models become less sparse, with fewer dead neurons [1].", sparse
    )
    stragglers = [
        "Gradient coding\nThe second scheme yields a 16% improvement in runtime over the baseline GC "
        "scheme, in the presence of naturally occurring, non-simulated stragglers."
    ]
    assert offline_judge.supports(
        "The second scheme improves runtime by 16% over the baseline GC scheme with "
        "naturally occurring stragglers [1].",
        stragglers,
    )
    assert not offline_judge.supports(
        "The second scheme improves runtime by 16% over the baseline GC scheme with "
        "simulated stragglers [1].",
        stragglers,
    )
    noise = [
        "Gradient noise\nThis method allows a fully-connected 20-layer deep network to be trained with "
        "standard gradient descent, even starting from a poor initialization."
    ]
    assert offline_judge.supports(
        "Gradient noise lets a fully-connected 20-layer network be trained with standard "
        "gradient descent from a poor initialization [1].",
        noise,
    )
    assert not offline_judge.supports(
        "Gradient noise lets a convolutional 20-layer network be trained with "
        "standard gradient descent from a poor initialization [1].",
        noise,
    )
    adapt = [
        "Seq vs seq\nAdapting a decoder model to encoder tasks through continued training is subpar compared "
        "to using only the encoder objective."
    ]
    assert offline_judge.supports(
        "Adapting a decoder model to encoder tasks through continued training is worse "
        "than using only the encoder objective [1].",
        adapt,
    )
    assert not offline_judge.supports(
        "Adapting a decoder model to encoder tasks through continued training works "
        "as well as using only the encoder objective [1].",
        adapt,
    )


def test_negation_scope_names_and_overclaims(offline_judge: OfflineJudge) -> None:
    # a negation ends at its clause: "no segmentation, handles ..." does not deny "handles"
    text = [
        "Scene text\nIt naturally handles sequences in arbitrary lengths, involving no character segmentation. "
        "It is not confined to any predefined lexicon."
    ]
    assert offline_judge.supports(
        "The network needs no character segmentation, handles sequences of arbitrary "
        "length, and is not confined to a predefined lexicon [1].",
        text,
    )
    assert not offline_judge.supports("The network does not handle sequences of arbitrary length [1].", text)
    # a name in the plural, or with its number hyphenated or not
    rnn = [
        "Attention as an RNN\nAaren can be trained in parallel like Transformers and updated efficiently with new "
        "tokens like traditional RNNs. It is evaluated on CIFAR10."
    ]
    assert offline_judge.supports(
        "Aaren can be trained in parallel like a Transformer and updated efficiently "
        "with new tokens like an RNN [1].",
        rnn,
    )
    assert offline_judge.features("Aaren is evaluated on CIFAR-10 [1].", rnn).missing_names == []
    assert offline_judge.features("Aaren is evaluated on CIFAR-100 [1].", rnn).missing_names == ["CIFAR-100"]
    assert not offline_judge.supports("Aaren is evaluated on CIFAR-100 [1].", rnn)
    # "all" matches "the entirety of" in the best-matching sentence, not a stray "entire" elsewhere
    neurons = [
        "Decoding neurons\nThe entire pipeline is simple. Through our method, it is possible to map the "
        "entirety of the model's up-projection neurons in less than 15 minutes with no parallelization. "
        "Clamping one neuron changes outputs for many prompts."
    ]
    assert offline_judge.supports(
        "All of the model's up-projection neurons can be mapped in less than 15 minutes "
        "with no parallelization [1].",
        neurons,
    )
    assert not offline_judge.supports("Clamping one neuron changes outputs for all prompts [1].", neurons)
    # "the first X" needs an evidence sentence that says "first" of the same thing
    hrr = [
        "Hrrformer\nThe Hrrformer achieves near state-of-the-art accuracy on LRA benchmarks. This makes Hrrformer "
        "the first viable Transformer for such long malware classification sequences."
    ]
    assert offline_judge.supports(
        "Hrrformer is the first viable Transformer for long malware classification sequences [1].", hrr
    )
    assert not offline_judge.supports(
        "Hrrformer is the first Transformer to achieve state-of-the-art accuracy on LRA benchmarks [1].", hrr
    )


def test_both_a_and_b_is_judged_against_each_paper(offline_judge: OfflineJudge) -> None:
    a = "AlphaNet: token mixing with strips\nAlphaNet is evaluated on CIFAR-100 and ImageNet-1K image classification."
    b = "BetaNet: subspace attention\nBetaNet is evaluated on ImageNet-1K image classification."
    assert offline_judge.supports(
        "Both AlphaNet and BetaNet are evaluated on ImageNet-1K image classification [1][2].", [a, b]
    )
    only_one = "Both AlphaNet and BetaNet are evaluated on CIFAR-100 image classification [1][2]."
    assert not offline_judge.supports(only_one, [a, b])
    # the same facts, said of each paper in turn, are supported by the two papers together
    assert offline_judge.supports(
        "AlphaNet is evaluated on CIFAR-100 image classification and BetaNet on ImageNet-1K [1][2].", [a, b]
    )


def test_markers_and_the_extractive_heading_are_not_part_of_the_claim() -> None:
    assert (
        strip_markers("**NIRVANA** (2022): NIRVANA achieves 6X decoding speed [1][2].")
        == "NIRVANA achieves 6X decoding speed."
    )
    assert (
        strip_markers("- **MEG-GPT**: The authors introduce MEG-GPT [7].") == "The authors introduce MEG-GPT."
    )
    assert (
        strip_markers("Investigations…** (2022): Neural sequence models learn [1].")
        == "Neural sequence models learn."
    )


# ---- answer-level arithmetic (ALCE, RAGAS) with a scripted judge -------------------------------------


class TableJudge:
    """Supports a claim when the joined evidence contains one of its listed keys."""

    name = "table"

    def __init__(self, support: dict[str, set[str]]):
        self.support = support

    def supports(self, claim: str, evidence: list[str]) -> bool:
        keys = next((v for k, v in self.support.items() if claim.startswith(k)), set())
        return any(k in " ".join(evidence) for k in keys)

    def claims(self, answer: str) -> list[str]:
        from citecraft.judge import sentence_claims

        return sentence_claims(answer)


def test_alce_precision_flags_a_citation_that_is_not_needed() -> None:
    evidence = {"p1": "paper one text", "p2": "paper two text", "p3": "paper three text"}
    judge = TableJudge({"Alpha": {"one"}, "Beta": {"two"}, "Gamma": set()})
    text = "Alpha holds for the first method [1][2]. Beta holds for the second one [2]. Gamma holds for a third method [3]."
    result = judge_answer(judge, text, {1: "p1", 2: "p2", 3: "p3"}, evidence.__getitem__)
    assert [s.supported for s in result.sentences] == [True, True, False]
    assert [s.precise for s in result.sentences] == [[True, False], [True], [False]]
    assert result.citation_recall == pytest.approx(2 / 3)
    assert result.citation_precision == pytest.approx(2 / 4)
    # faithfulness judges every claim against all the abstracts the answer cites
    assert result.faithfulness == pytest.approx(2 / 3)


def test_a_sentence_without_a_citation_counts_against_citation_recall() -> None:
    judge = TableJudge({"Alpha": {"one"}})
    result = judge_answer(
        judge,
        "Alpha holds for the first method [1]. Alpha holds without any citation here.",
        {1: "p1"},
        {"p1": "one"}.__getitem__,
    )
    assert result.citation_recall == 0.5
    assert result.citation_precision == 1.0
    assert result.faithfulness == 1.0


# ---- the LLM judge through a scripted OpenAI-compatible server --------------------------------------

CLAIMS = [
    "NIRVANA improves PSNR from 37.36 to 37.70 on UVG [1]",
    "NIRVANA encodes 12X faster [1]",
    "NIRVANA decodes 60X faster [1]",
]
SUPPORTED = set(CLAIMS[:2])


def verdicts(body: dict[str, Any]) -> str:
    prompt = "\n".join(m["content"] for m in body["messages"])
    if "atomic factual claims" in prompt:
        return json.dumps({"claims": CLAIMS})
    claim = re.search(r"^Claim: (.*)$", prompt, re.M).group(1)  # type: ignore[union-attr]
    return json.dumps({"supported": any(strip_markers(c) == claim.rstrip(".") for c in SUPPORTED)})


@pytest.fixture
def srv() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=verdicts) as server:
        yield server


def chat(srv: FakeOpenAI) -> ChatModel:
    return ChatModel("fake-model", base_url=srv.base_url, api_key="sk-test", max_retries=0)


def test_llm_judge_extracts_claims_and_aggregates_verdicts(srv: FakeOpenAI) -> None:
    judge = LLMJudge(chat(srv))
    assert judge.name == "llm:fake-model"
    answer = " ".join(f"{c[:-4]} [1]." for c in CLAIMS)
    result = judge_answer(judge, answer, {1: "nirvana"}, lambda pid: "NIRVANA abstract")
    assert [c for c, _ in result.claims] == CLAIMS
    assert [ok for _, ok in result.claims] == [True, True, False]
    assert result.faithfulness == pytest.approx(2 / 3)
    assert result.citation_recall == pytest.approx(2 / 3)
    assert result.citation_precision == pytest.approx(2 / 3)
    assert result.scores() == pytest.approx(
        {"alce_citation_recall": 2 / 3, "alce_citation_precision": 2 / 3, "faithfulness": 2 / 3}
    )
    prompts = ["\n".join(m["content"] for m in b["messages"]) for b in srv.chat_requests]
    assert sum("atomic factual claims" in p for p in prompts) == 1
    assert all("NIRVANA abstract" in p for p in prompts if "Claim:" in p)
    assert judge.calls == len(srv.chat_requests)


def test_llm_judge_caches_repeated_verdicts(srv: FakeOpenAI) -> None:
    judge = LLMJudge(chat(srv))
    assert judge.supports(CLAIMS[0], ["evidence"]) is True
    assert judge.supports(CLAIMS[0], ["evidence"]) is True
    assert len(srv.chat_requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        "yes",  # not JSON
        '{"verdict": true}',  # missing key
        '{"supported": "yes"}',  # not a boolean
        '["supported", true]',  # not an object
        '{"supported": true',  # truncated
    ],
)
def test_malformed_verdicts_are_model_errors(reply: str) -> None:
    with FakeOpenAI() as srv:
        srv.queue(reply)
        with pytest.raises(ModelError, match="judge fake-model"):
            LLMJudge(chat(srv)).supports("a claim", ["evidence"])


@pytest.mark.parametrize("reply", ['{"claims": "one claim"}', "claims: a, b", '{"items": []}'])
def test_malformed_claim_lists_are_model_errors(reply: str) -> None:
    with FakeOpenAI() as srv:
        srv.queue(reply)
        with pytest.raises(ModelError):
            LLMJudge(chat(srv)).claims("Some answer [1].")


def test_a_fenced_json_verdict_is_accepted() -> None:
    with FakeOpenAI() as srv:
        srv.queue(Reply(content='```json\n{"supported": false}\n```'))
        assert LLMJudge(chat(srv)).supports("a claim", ["evidence"]) is False


def test_faithfulness_judges_a_claim_against_the_cited_abstracts_together(
    offline_judge: OfflineJudge,
) -> None:
    # "Both these modules ..." quotes paper A; a second paper cited elsewhere in the answer does not make it a
    # claim about each paper (the per-paper "Both A and B" check is for sentences that cite both)
    a = (
        "MAXIM contains two MLP-based building blocks: a multi-axis gated MLP and a cross-gating block. "
        "Both these modules are exclusively based on MLPs, but also benefit from being both global and "
        "fully-convolutional, two properties that are desirable for image processing."
    )
    b = "MS-MLP mixes tokens by shifting feature channels spatially, without self-attention."
    evidence = {"a": a, "b": b}
    answer = (
        "Both these modules are exclusively based on MLPs, but also benefit from being both global and "
        "fully-convolutional, two properties that are desirable for image processing [1]. MS-MLP mixes "
        "tokens by shifting feature channels spatially [2]."
    )
    result = judge_answer(offline_judge, answer, {1: "a", 2: "b"}, evidence.__getitem__)
    assert [s.supported for s in result.sentences] == [True, True]
    assert [ok for _, ok in result.claims] == [True, True]
    # and a claim neither abstract makes is still unfaithful
    wrong = judge_answer(
        offline_judge,
        "Both modules rely on self-attention over all tokens [1].",
        {1: "a", 2: "b"},
        evidence.__getitem__,
    )
    assert [ok for _, ok in wrong.claims] == [False]

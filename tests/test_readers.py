"""Readers: the three daily-papers layouts, the bundled corpus, JSONL, CSV, BibTeX, Atom; ids and dedup."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from citecraft.papers import Paper, dedupe, merge, normalize_title, paper_id_for
from citecraft.readers import detect_format, read_file, read_paths
from tests.conftest import DATA

CHROME_HEADER = """new

Get trending papers in your email inbox!

Subscribe

Daily Papers

byAK and the research community

Nov 13

"""

ABS_1 = (
    "We route each query to a small set of retrieval experts and show that sparse routing "
    "matches dense retrieval at a fraction of the cost."
)
ABS_2 = (
    "Adding annealed Gaussian noise to gradients makes very deep transformers trainable "
    "without warmup and improves final perplexity."
)
ABS_3 = (
    "Moshi is a speech-text foundation model and full-duplex spoken dialogue framework that "
    "streams audio in and out with low latency."
)
ABS_4 = (
    "A plain entry whose metadata carries a month and day but no year, and no upvote count, "
    "to check that no year is guessed."
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- daily-papers pages -----------------------------------------------------------------------


def test_daily_layout_a_metadata_dates_upvotes_and_organization(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        "page-a.txt",
        CHROME_HEADER
        + f"""Sparse Mixtures of Retrieval Experts

{ABS_1}

  • 4 authors
·
Apr 17 4

Gradient Noise for Deep Transformers

{ABS_2}

  • 7 authors
·
Jan 31, 2024 1

Moshi: A Speech-Text Foundation Model

{ABS_3}

kyutai Kyutai
·
Oct 23, 2024

Plain Entry Without Upvotes

{ABS_4}

  • 1 author
·
Jul 13
""",
    )
    assert detect_format(page.read_text(), page) == "daily"
    result = read_file(page)
    assert result.problems == []
    a, b, c, d = result.papers
    # "Apr 17 4": month-day without a year plus 4 upvotes; the year is never guessed
    assert (a.title, a.abstract) == ("Sparse Mixtures of Retrieval Experts", ABS_1)
    assert (a.date, a.month_day, a.year, a.upvotes, a.n_authors) == (None, "04-17", None, 4, 4)
    assert a.display_date() == "--04-17"
    assert a.sources == [f"{page}:13"]
    # "Jan 31, 2024 1": a full date plus one upvote
    assert (b.date, b.month_day, b.year, b.upvotes, b.n_authors) == ("2024-01-31", "01-31", 2024, 1, 7)
    assert b.sources == [f"{page}:21"]
    # an organization line instead of an author count
    assert (c.title, c.organization, c.n_authors, c.date, c.upvotes) == (
        "Moshi: A Speech-Text Foundation Model",
        "kyutai Kyutai",
        None,
        "2024-10-23",
        None,
    )
    # "Jul 13": no year, no upvotes, "1 author" in the singular
    assert (d.date, d.month_day, d.year, d.upvotes, d.n_authors) == (None, "07-13", None, None, 1)
    # the header "Nov 13" is page chrome: no paper carries it
    assert all(p.month_day != "11-13" for p in result.papers)
    # chrome lines are never titles or abstracts
    texts = {p.title for p in result.papers} | {p.abstract for p in result.papers}
    assert not texts & {"new", "Subscribe", "Daily Papers", "byAK and the research community", "Nov 13"}


def test_daily_layout_b_without_metadata(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        "page-b.txt",
        CHROME_HEADER
        + f"""Sparse Mixtures of Retrieval Experts

{ABS_1}

Gradient Noise for Deep Transformers

{ABS_2}

Moshi: A Speech-Text Foundation Model

{ABS_3}
""",
    )
    result = read_file(page)
    assert result.problems == []
    assert [(p.title, p.abstract) for p in result.papers] == [
        ("Sparse Mixtures of Retrieval Experts", ABS_1),
        ("Gradient Noise for Deep Transformers", ABS_2),
        ("Moshi: A Speech-Text Foundation Model", ABS_3),
    ]
    for p in result.papers:
        assert (p.date, p.month_day, p.year, p.n_authors, p.upvotes, p.organization) == (None,) * 6
    assert [p.sources for p in result.papers] == [[f"{page}:13"], [f"{page}:17"], [f"{page}:21"]]


def test_daily_layout_c_alternating_lines_with_glued_subscribe(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        "page-c.txt",
        "Get trending papers in your email inbox once a day!\n"
        "Get trending papers in your email inbox!\n"
        "SubscribeSparse Mixtures of Retrieval Experts\n"
        f"{ABS_1}\n"
        "Gradient Noise for Deep Transformers\n"
        f"{ABS_2}\n"
        "Moshi: A Speech-Text Foundation Model\n"
        f"{ABS_3}\n",
    )
    assert detect_format(page.read_text(), page) == "daily"
    result = read_file(page)
    assert result.problems == []
    assert [(p.title, p.abstract) for p in result.papers] == [
        ("Sparse Mixtures of Retrieval Experts", ABS_1),  # "Subscribe" is not part of the title
        ("Gradient Noise for Deep Transformers", ABS_2),
        ("Moshi: A Speech-Text Foundation Model", ABS_3),
    ]
    assert [p.sources for p in result.papers] == [[f"{page}:3"], [f"{page}:5"], [f"{page}:7"]]


def test_daily_title_without_abstract_is_reported_with_its_line(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        "page-x.txt",
        CHROME_HEADER
        + f"""Sparse Mixtures of Retrieval Experts

{ABS_1}

A Dangling Title At The End
""",
    )
    result = read_file(page)
    assert [p.title for p in result.papers] == ["Sparse Mixtures of Retrieval Experts"]
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.file, problem.line) == (str(page), 17)
    assert "A Dangling Title At The End" in problem.message and "no abstract" in problem.message


# ---- the bundled corpus -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[Paper]:
    result = read_paths([DATA])
    assert result.problems == []
    return result.papers


def test_bundled_corpus_counts(corpus: list[Paper]) -> None:
    assert len(corpus) == 421
    papers = dedupe(corpus)
    assert len(papers) == 381
    assert len({p.paper_id for p in papers}) == 381
    pages_per_title = Counter(len({s.rsplit(":", 1)[0] for s in p.sources}) for p in papers)
    assert pages_per_title == {1: 349, 2: 24, 3: 8}  # 32 titles occur on 2 or 3 pages
    # every merged paper lists every place it was read from
    assert sum(len(p.sources) for p in papers) == 421
    assert sorted(s for p in papers for s in p.sources) == sorted(s for p in corpus for s in p.sources)
    # each entry has a title and a real abstract (no chrome slipped in as a paper)
    assert all(len(p.abstract) >= 200 for p in papers)
    assert {p.title for p in papers}.isdisjoint({"new", "Subscribe", "Daily Papers"})


def test_bundled_corpus_known_entries(corpus: list[Paper]) -> None:
    by_id = {p.paper_id: p for p in dedupe(corpus)}
    kyutai = [p for p in by_id.values() if p.organization == "kyutai Kyutai"]
    assert len(kyutai) == 1
    assert (kyutai[0].date, kyutai[0].month_day, kyutai[0].upvotes) == (None, "10-23", 1)
    apr17 = [p for p in corpus if p.sources == [f"{DATA / 'page-000.txt'}:93"]]
    assert len(apr17) == 1
    assert (apr17[0].date, apr17[0].month_day, apr17[0].upvotes, apr17[0].n_authors) == (None, "04-17", 4, 4)
    ddmi = by_id[
        paper_id_for(
            "DDMI: Domain-Agnostic Latent Diffusion Models for Synthesizing "
            "High-Quality Implicit Neural Representations"
        )
    ]
    assert (ddmi.date, ddmi.n_authors, ddmi.upvotes) == ("2024-01-23", 4, None)


def test_bundled_merge_keeps_metadata_of_any_copy(corpus: list[Paper]) -> None:
    groups: dict[str, list[Paper]] = defaultdict(list)
    for p in corpus:
        groups[p.paper_id].append(p)
    merged = {p.paper_id: p for p in dedupe(corpus)}
    # the first copy (page-002, layout b) has no metadata; the page-004 copy has it
    key = paper_id_for("Discrete Key-Value Bottleneck")
    first, second = groups[key]
    assert (first.n_authors, first.date) == (None, None)
    assert (second.n_authors, second.date) == (7, "2022-07-22")
    assert (merged[key].n_authors, merged[key].date, merged[key].year) == (7, "2022-07-22", 2022)
    assert merged[key].sources == first.sources + second.sources
    # and generally: a field known in any copy is known after the merge, with one of the copies' values
    lossy = 0
    for pid, copies in groups.items():
        for name in ("date", "month_day", "year", "n_authors", "upvotes", "organization"):
            values = {getattr(c, name) for c in copies} - {None}
            if values:
                assert getattr(merged[pid], name) in values, (pid, name)
                lossy += len(values) < len(copies) or None in {getattr(c, name) for c in copies}
    assert lossy > 0  # the corpus really has duplicates where one copy lacks metadata


# ---- paper ids ----------------------------------------------------------------------------------


def test_paper_ids_are_stable_and_case_punctuation_insensitive() -> None:
    assert paper_id_for("Attention Is All You Need") == "attention-is-all-you-37f63852"
    assert (
        paper_id_for("Sparse Mixtures of Retrieval Experts") == "sparse-mixtures-retrieval-experts-f7efc716"
    )
    assert paper_id_for(
        "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    ) == ("bert-pre-training-deep-b5d998ae")
    same = [
        "attention is all you need",
        "ATTENTION IS ALL YOU NEED!",
        "Attention: Is All, You Need?",
        "  Attention   is all you-need  ",
    ]
    assert {paper_id_for(t) for t in same} == {"attention-is-all-you-37f63852"}
    assert paper_id_for("Schrödinger Bridges") == paper_id_for("Schrodinger bridges")
    assert normalize_title("Schrödinger: Bridges!") == "schrodinger bridges"
    assert paper_id_for("Attention Is Not All You Need") != paper_id_for("Attention Is All You Need")
    assert Paper("Attention is all you need.", "x").paper_id == "attention-is-all-you-37f63852"


# ---- JSONL ------------------------------------------------------------------------------------

VASWANI_ABS = (
    "The dominant sequence transduction models are based on complex recurrent or convolutional "
    "neural networks in an encoder-decoder configuration. We propose a new simple network "
    "architecture, the Transformer, based solely on attention mechanisms."
)
BERT_ABS = (
    "We introduce a new language representation model called BERT, which stands for Bidirectional "
    "Encoder Representations from Transformers."
)


def test_jsonl_reader(tmp_path: Path) -> None:
    rows = [
        {
            "title": "Attention Is All You Need",
            "abstract": VASWANI_ABS,
            "date": "2017-06-12",
            "authors": [{"name": "Ashish Vaswani"}, {"name": "Noam Shazeer"}],
            "url": "https://arxiv.org/abs/1706.03762",
            "upvotes": "12",
        },
        {
            "name": "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
            "summary": BERT_ABS,
            "published": "Oct 11, 2018",
            "author": "Jacob Devlin and Ming-Wei Chang and Kenton Lee",
            "org": "Google",
        },
        {
            "title": "Month Day Only",
            "abstract": "An abstract with a month and day but no year.",
            "date": "Apr 17",
            "n_authors": 3,
        },
    ]
    path = write(tmp_path, "papers.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    result = read_file(path)
    assert result.problems == []
    a, b, c = result.papers
    assert (a.title, a.abstract, a.date, a.year) == (
        "Attention Is All You Need",
        VASWANI_ABS,
        "2017-06-12",
        2017,
    )
    assert (a.authors, a.n_authors, a.upvotes, a.url) == (
        ["Ashish Vaswani", "Noam Shazeer"],
        2,
        12,
        "https://arxiv.org/abs/1706.03762",
    )
    assert a.sources == [f"{path}:1"]
    assert (b.paper_id, b.date, b.authors, b.n_authors, b.organization) == (
        "bert-pre-training-deep-b5d998ae",
        "2018-10-11",
        ["Jacob Devlin", "Ming-Wei Chang", "Kenton Lee"],
        3,
        "Google",
    )
    assert (c.date, c.month_day, c.year, c.n_authors) == (None, "04-17", None, 3)
    assert c.sources == [f"{path}:3"]


def test_json_array_with_forced_format(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "papers.json",
        json.dumps(
            [{"title": "Attention Is All You Need", "abstract": VASWANI_ABS}, {"title": "No Abstract"}],
            indent=2,
        ),
    )
    result = read_file(path, "jsonl")
    assert [(p.paper_id, p.abstract) for p in result.papers] == [
        ("attention-is-all-you-37f63852", VASWANI_ABS)
    ]
    assert [(p.line, p.message) for p in result.problems] == [(2, "record 'No Abstract' has no abstract")]


def test_json_array_is_detected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "papers.json",
        json.dumps([{"title": "Attention Is All You Need", "abstract": VASWANI_ABS}], indent=2),
    )
    result = read_file(path)
    assert [(p.paper_id, p.abstract) for p in result.papers] == [
        ("attention-is-all-you-37f63852", VASWANI_ABS)
    ]


def test_jsonl_line_separator_inside_a_string(tmp_path: Path) -> None:
    rows = [
        {"title": "Pasted From A PDF", "abstract": "First line\u2028second line of the abstract."},
        {"title": "Attention Is All You Need", "abstract": VASWANI_ABS},
    ]
    path = write(tmp_path, "ls.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    result = read_file(path)
    assert [str(p) for p in result.problems] == []
    assert [p.title for p in result.papers] == ["Pasted From A PDF", "Attention Is All You Need"]


# ---- CSV --------------------------------------------------------------------------------------


def test_csv_reader_quoted_cells_and_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "papers.csv",
        "Title,Abstract,Authors,Date,Upvotes\n"
        f'"Attention Is All You Need","{VASWANI_ABS}","Ashish Vaswani; Noam Shazeer",2017-06-12,5\n'
        '"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",'
        f'"{BERT_ABS}\nA second, quoted line.","Jacob Devlin, Ming-Wei Chang",2018-10-11,\n'
        '"No Abstract Here",,"Someone",2020-01-01,\n'
        '"Too Many Cells","An abstract that is long enough.","A",2020-01-01,1,extra\n',
    )
    result = read_file(path)
    a, b = result.papers
    assert (a.title, a.abstract, a.authors, a.date, a.upvotes) == (
        "Attention Is All You Need",
        VASWANI_ABS,
        ["Ashish Vaswani", "Noam Shazeer"],
        "2017-06-12",
        5,
    )
    assert a.sources == [f"{path}:2"]
    assert b.abstract == f"{BERT_ABS} A second, quoted line."
    assert (b.authors, b.n_authors, b.upvotes) == (["Jacob Devlin", "Ming-Wei Chang"], 2, None)
    assert b.sources == [f"{path}:3"]
    assert [(p.line, p.message) for p in result.problems] == [
        (5, "record 'No Abstract Here' has no abstract"),  # the BERT row spans lines 3-4
        (6, "row has more cells than the header"),
    ]


def test_tsv_reader(tmp_path: Path) -> None:
    path = write(
        tmp_path, "papers.tsv", f"title\tabstract\tyear\nAttention Is All You Need\t{VASWANI_ABS}\t2017\n"
    )
    assert detect_format(path.read_text(), path) == "csv"
    (p,) = read_file(path).papers
    assert (p.paper_id, p.year, p.date) == ("attention-is-all-you-37f63852", 2017, None)


# ---- BibTeX -----------------------------------------------------------------------------------

BIB = r"""% exported from a reference manager
@string{neurips = "Advances in Neural Information Processing Systems"}
@comment{this is not an entry}

@inproceedings{vaswani2017attention,
  title     = {Attention Is {All} You Need},
  author    = {Ashish Vaswani and Noam Shazeer and Niki Parmar},
  booktitle = neurips,
  year      = {2017},
  month     = dec,
  abstract  = {The dominant sequence transduction models are based on complex recurrent or convolutional
               neural networks in an encoder-decoder configuration. We propose a new simple network
               architecture, the \emph{Transformer}, based solely on attention mechanisms.},
  url       = {https://arxiv.org/abs/1706.03762}
}

@article{devlin2019bert,
  title    = "{BERT}: Pre-training of Deep Bidirectional Transformers for Language Understanding",
  author   = "Jacob Devlin and Ming-Wei Chang and Kenton Lee and Kristina Toutanova",
  date     = {2019-06-02},
  abstract = "We introduce a new language representation model called {BERT}, which stands for "
             # "Bidirectional Encoder Representations from Transformers.",
}

@misc{noabstract2020,
  title = {A Paper Without Abstract},
  year  = 2020,
}

@article{percent,
  title    = {Scaling~Laws at 100\% {GPU} Utilization},
  abstract = {We measure throughput at 100\% utilization and find {$O(n)$} scaling.},
  year     = 2021,
  month    = {3}
}
"""


def test_bibtex_reader(tmp_path: Path) -> None:
    path = write(tmp_path, "refs.bib", BIB)
    assert detect_format(BIB, path) == "bibtex"
    result = read_file(path)
    a, b, c = result.papers
    assert (a.title, a.abstract) == ("Attention Is All You Need", VASWANI_ABS)
    assert (a.paper_id, a.year, a.date, a.month_day) == ("attention-is-all-you-37f63852", 2017, None, None)
    assert (a.authors, a.n_authors, a.url) == (
        ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"],
        3,
        "https://arxiv.org/abs/1706.03762",
    )
    assert a.sources == [f"{path}:5"]
    assert b.title == "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    assert b.abstract == BERT_ABS  # braces stripped, "a" # "b" concatenated
    assert (b.date, b.n_authors) == ("2019-06-02", 4)
    assert (c.title, c.abstract, c.year) == (
        "Scaling Laws at 100% GPU Utilization",
        "We measure throughput at 100% utilization and find $O(n)$ scaling.",
        2021,
    )
    assert [(p.file, p.line, p.message) for p in result.problems] == [
        (str(path), 25, "record 'A Paper Without Abstract' has no abstract")
    ]


def test_bibtex_unbalanced_entry_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.bib",
        "@article{ok, title={Fine Title}, abstract={A fine abstract.}}\n\n"
        "@article{bad, title={Unclosed, abstract={never closed}\n",
    )
    result = read_file(path)
    assert [p.title for p in result.papers] == ["Fine Title"]
    assert [(p.line, p.message) for p in result.problems] == [(3, "@article entry is not closed")]


def test_bibtex_parenthesized_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "paren.bib",
        "@article(vaswani2017,\n  title = {Attention Is All You Need},\n"
        f"  abstract = {{{VASWANI_ABS}}},\n  year = 2017\n)\n",
    )
    result = read_file(path)
    assert [str(p) for p in result.problems] == []
    assert [p.paper_id for p in result.papers] == ["attention-is-all-you-37f63852"]


def test_bibtex_latex_accents_give_the_same_paper_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "acc.bib",
        '@article{k,\n  title = {Schr{\\"o}dinger Bridges for Generative Modeling},\n'
        "  abstract = {Bridges between two distributions, learned by iterative proportional fitting.}\n}\n",
    )
    (p,) = read_file(path).papers
    assert p.title == "Schrödinger Bridges for Generative Modeling"
    assert p.paper_id == paper_id_for("Schrödinger Bridges for Generative Modeling")


# ---- arXiv Atom -------------------------------------------------------------------------------

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Aattention" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:attention&amp;id_list=&amp;start=0&amp;max_results=2</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-01-05T00:00:00-05:00</updated>
  <opensearch:totalResults>2</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/abs/1706.03762v7</id>
    <updated>2023-08-02T00:41:18Z</updated>
    <published>2017-06-12T17:57:34Z</published>
    <title>Attention Is All You
  Need</title>
    <summary>  The dominant sequence transduction models are based on complex recurrent or convolutional
neural networks in an encoder-decoder configuration. We propose a new simple network
architecture, the Transformer, based solely on attention mechanisms.
</summary>
    <author><name>Ashish Vaswani</name></author>
    <author><name>Noam Shazeer</name></author>
    <arxiv:comment>15 pages, 5 figures</arxiv:comment>
    <link href="http://arxiv.org/abs/1706.03762v7" rel="alternate" type="text/html"/>
    <arxiv:primary_category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00001v1</id>
    <published>2024-01-01T00:00:01Z</published>
    <title>An Entry Without Summary</title>
    <author><name>Nobody</name></author>
  </entry>
</feed>
"""


def test_atom_reader(tmp_path: Path) -> None:
    path = write(tmp_path, "arxiv.xml", ATOM)
    assert detect_format(ATOM, path) == "atom"
    result = read_file(path)
    (p,) = result.papers
    assert (p.title, p.abstract) == ("Attention Is All You Need", VASWANI_ABS)
    assert (p.paper_id, p.date, p.year, p.month_day) == (
        "attention-is-all-you-37f63852",
        "2017-06-12",
        2017,
        "06-12",
    )
    assert (p.authors, p.n_authors, p.url) == (
        ["Ashish Vaswani", "Noam Shazeer"],
        2,
        "http://arxiv.org/abs/1706.03762v7",
    )
    assert [(x.file, x.message) for x in result.problems] == [
        (str(path), "entry 2: record 'An Entry Without Summary' has no abstract")
    ]


def test_atom_not_well_formed(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.xml", '<feed xmlns="http://www.w3.org/2005/Atom">\n<entry>\n</feed>\n')
    result = read_file(path)
    assert result.papers == []
    assert len(result.problems) == 1 and result.problems[0].line == 3
    assert result.problems[0].message.startswith("not well-formed XML")


# ---- dedup ------------------------------------------------------------------------------------


def test_merge_keeps_richest_metadata() -> None:
    poor = Paper("Attention Is All You Need", "Short abstract.", n_authors=8, sources=["a.txt:1"])
    rich = Paper(
        "attention is all you need!",
        VASWANI_ABS,
        date="2017-06-12",
        month_day="06-12",
        authors=["Ashish Vaswani", "Noam Shazeer"],
        upvotes=3,
        url="https://arxiv.org/abs/1706.03762",
        sources=["b.jsonl:4"],
    )
    more_votes = Paper(
        "ATTENTION IS ALL YOU NEED",
        "Short.",
        upvotes=9,
        organization="Google",
        month_day="06-12",
        sources=["c.txt:7", "a.txt:1"],
    )
    (m,) = dedupe([poor, rich, more_votes])
    assert m.paper_id == "attention-is-all-you-37f63852"
    assert m.title == "attention is all you need!"  # the richest record's spelling is the base
    assert m.abstract == VASWANI_ABS  # the longest abstract
    assert (m.date, m.year, m.month_day) == ("2017-06-12", 2017, "06-12")
    assert m.authors == ["Ashish Vaswani", "Noam Shazeer"]
    assert m.n_authors == 2  # the author list's count, from the record that has names
    assert (m.upvotes, m.organization, m.url) == (9, "Google", "https://arxiv.org/abs/1706.03762")
    assert m.sources == ["a.txt:1", "b.jsonl:4", "c.txt:7"]
    # merge is symmetric in what it keeps
    assert merge(poor, rich).to_dict() | {"sources": []} == merge(rich, poor).to_dict() | {"sources": []}


def test_dedupe_across_formats(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    write(tmp_path / "in", "a.bib", BIB)
    write(
        tmp_path / "in",
        "b.jsonl",
        json.dumps({"title": "Attention is all you need.", "abstract": "Short.", "upvotes": 40}) + "\n",
    )
    result = read_paths([tmp_path / "in"])
    papers = {p.paper_id: p for p in dedupe(result.papers)}
    assert len(result.papers) == 4 and len(papers) == 3
    p = papers["attention-is-all-you-37f63852"]
    assert (p.abstract, p.n_authors, p.year, p.upvotes) == (VASWANI_ABS, 3, 2017, 40)
    assert p.sources == [f"{tmp_path / 'in' / 'a.bib'}:5", f"{tmp_path / 'in' / 'b.jsonl'}:1"]


@pytest.mark.parametrize(
    ("date", "shown"),
    [(None, "n.d."), ("", "n.d."), ("2024-02-28", "2024-02-28"), ("--10-19", "Oct 19"), ("2023", "2023")],
)
def test_dates_for_people(date: str | None, shown: str) -> None:
    from citecraft.papers import readable_date

    assert readable_date(date) == shown


def test_a_record_keeps_its_own_key_for_bibtex(tmp_path: Path) -> None:
    from citecraft.bibtex import to_bibtex

    bib = tmp_path / "mine.bib"
    bib.write_text(
        "@inproceedings{vole2023,\n  title = {Prairie Voles Learn Fast},\n"
        "  abstract = {Prairie voles learn spatial tasks quickly.},\n  year = 2023\n}\n",
        encoding="utf-8",
    )
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(
        '{"id": "qsn2024", "title": "Quantum Sparse Nets", "abstract": "Sparse coding, quantum style."}\n'
        '{"id": "http://example.org/x", "title": "A URL Is No Key", "abstract": "Not a key."}\n'
        '{"id": "vole2023", "title": "Another Vole Paper", "abstract": "Same key, other paper."}\n',
        encoding="utf-8",
    )
    papers = {p.title: p for p in read_paths([bib, jsonl]).papers}
    assert papers["Prairie Voles Learn Fast"].cite_key == "vole2023"
    assert papers["Quantum Sparse Nets"].cite_key == "qsn2024"
    assert papers["A URL Is No Key"].cite_key is None
    text = to_bibtex(
        [papers["Prairie Voles Learn Fast"], papers["Quantum Sparse Nets"], papers["Another Vole Paper"]]
    )
    keys = re.findall(r"^@misc\{([^,]+),", text, re.M)
    assert keys[:2] == ["vole2023", "qsn2024"]
    assert keys[2].startswith("vole2023_") and keys[2] != "vole2023"  # a clash gets the id's tail


def test_a_bibtex_author_written_last_comma_first_is_one_person(tmp_path: Path) -> None:
    bib = tmp_path / "a.bib"
    bib.write_text(
        "@article{lee2021,\n  title = {One Author Only},\n  abstract = {Text.},\n  author = {Lee, Kim}\n}\n"
        "@article{two2022,\n  title = {Two Authors},\n  abstract = {Text.},\n"
        "  author = {Doe, Jane and Roe, Richard}\n}\n",
        encoding="utf-8",
    )
    papers = {p.title: p for p in read_paths([bib]).papers}
    assert papers["One Author Only"].authors == ["Lee, Kim"] and papers["One Author Only"].n_authors == 1
    assert papers["Two Authors"].authors == ["Doe, Jane", "Roe, Richard"]

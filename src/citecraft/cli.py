"""The `citecraft` command line: parse, call the library, print."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .errors import EXIT_PARTIAL, CitecraftError
from .papers import readable_date

if "--debug" in sys.argv:
    os.environ["CITECRAFT_DEBUG"] = "1"


def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _out_console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


class App:
    """What every command needs: settings and the index, built lazily."""

    def __init__(self, home: Path | None, embedder: str | None, chroma_url: str | None):
        from .settings import load_settings

        if home:
            os.environ["CITECRAFT_HOME"] = str(home)
        overrides: dict[str, Any] = {"index.embedder": embedder, "index.chroma_url": chroma_url}
        if home:
            overrides["home"] = home
        self.settings = load_settings(**overrides)
        self.embedder_asked = embedder  # given with --embedder / CITECRAFT_EMBEDDER, not the default
        self._index: Any = None

    @property
    def index(self) -> Any:
        if self._index is None:
            from .index import Index

            self._index = Index(self.settings)
        return self._index

    def ensure_index(self) -> Any:
        """On an empty index, ingest the bundled corpus first (with a progress bar)."""
        if not self.index.exists():
            from .corpus import bundled_corpus_dir
            from .readers import read_paths

            _err_console().print("[dim]The index is empty: ingesting the bundled corpus first.[/dim]")
            result = read_paths([bundled_corpus_dir()])
            with progress_bar() as progress:
                self.index.ingest(result.papers, progress=progress)
        built_with = self.index.manifest().get("embedder_spec")
        if self.embedder_asked and built_with and self.embedder_asked.strip() != built_with:
            from .errors import IndexMismatchError

            raise IndexMismatchError(
                f"the index was built with the {built_with!r} embedder, not {self.embedder_asked!r}",
                f"rebuild it for that one: citecraft --embedder {self.embedder_asked} ingest --rebuild",
            )
        return self.index


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr, one task per stage; silent when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _err_console()
    with Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


class CitecraftGroup(click.Group):
    """Turns domain errors into one line and an exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CitecraftError as exc:
            if os.environ.get("CITECRAFT_DEBUG"):
                raise
            from rich.markup import escape

            _err_console().print(
                f"[bold red]error:[/bold red] {escape(str(exc))}", markup=True, soft_wrap=True
            )
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            _err_console().print("interrupted")
            ctx.exit(130)


@click.group(cls=CitecraftGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    envvar="CITECRAFT_HOME",
    help="Directory holding the index and chat history [env: CITECRAFT_HOME].",
)
@click.option(
    "--embedder",
    envvar="CITECRAFT_EMBEDDER",
    default=None,
    help="wordllama (default, offline), openai:<model>, or minilm [env: CITECRAFT_EMBEDDER].",
)
@click.option(
    "--chroma-url",
    envvar="CITECRAFT_CHROMA_URL",
    default=None,
    help="Use a Chroma server (http://host:8000) instead of the embedded store.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="citecraft")
@click.pass_context
def cli(
    ctx: click.Context, home: Path | None, embedder: str | None, chroma_url: str | None, debug: bool
) -> None:
    """Answer questions about a collection of research papers, every claim cited.

    Works offline by default: WordLlama embeddings, Chroma + BM25 retrieval and an
    extractive answer engine. Set OPENAI_API_KEY or --base-url to use an LLM.
    """
    from . import offline

    offline.configure()
    ctx.obj = App(home, embedder, chroma_url)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--rebuild", is_flag=True, help="Start the index over (needed after changing embedder or chunking)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["daily", "jsonl", "csv", "bibtex", "atom"]),
    help="Force an input format instead of detecting it from content.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def ingest(app: App, paths: tuple[Path, ...], rebuild: bool, fmt: str | None, as_json: bool) -> None:
    """Add papers to the index (the bundled corpus when no PATH is given).

    PATH may be a file or a directory of: saved daily-papers pages, JSON Lines,
    CSV (title and abstract columns), BibTeX with abstracts, or arXiv Atom XML.
    Unchanged papers are skipped; re-running never duplicates.

    Exit codes: 0 all read, 6 some records rejected (the rest were ingested),
    2 nothing readable, 3 index locked or incompatible.
    """
    from .corpus import bundled_corpus_dir
    from .errors import InputError
    from .readers import read_paths

    sources = list(paths) or [bundled_corpus_dir()]
    result = read_paths(sources, fmt)
    err = _err_console()
    from rich.markup import escape

    for problem in result.problems:
        text = str(problem)
        err.print(f"[yellow]skipped[/yellow] {escape(text)}", soft_wrap=True, markup=True)
    if not result.papers and not (rebuild and app.index.exists()):
        raise InputError("no papers could be read; the index was not changed")
    with progress_bar() as progress:
        report = app.index.ingest(result.papers, rebuild=rebuild, progress=progress)
    if as_json:
        emit_json(
            {**report.__dict__, "rejected": [str(p) for p in result.problems], "index": str(app.index.path)}
        )
    else:
        read = f"{len(result.papers)} record{'s' if len(result.papers) != 1 else ''} read"
        if report.merged:
            read += f" ({report.merged} duplicates merged)"
        if not report.changed and not rebuild:
            click.echo(f"{read}; index unchanged: {report.unchanged} papers already up to date.")
        else:
            click.echo(
                f"{read}; {report.added} added, {report.updated} updated, {report.unchanged} unchanged"
                + (f", {report.repaired} repaired" if report.repaired else "")
                + f"; {report.chunks} chunks embedded in {report.seconds:.1f}s. "
                f"Index: {report.total} papers at {app.index.path}"
            )
        if result.problems:
            click.echo(f"{len(result.problems)} record(s) or file(s) rejected (see above).")
    if result.problems:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.argument("paper_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def papers(app: App, paper_id: str | None, as_json: bool) -> None:
    """List the papers in the index, or show one by PAPER_ID (its id, its own key, or a unique id prefix)."""
    from .errors import InputError

    index = app.ensure_index()
    stored = index.papers()
    if paper_id:
        sp = stored.get(paper_id) or next((s for s in stored.values() if s.paper.cite_key == paper_id), None)
        if sp is None:
            prefixed = sorted(p for p in stored if p.startswith(paper_id))
            if len(prefixed) > 1:
                raise InputError(
                    f"{len(prefixed)} papers have ids starting with {paper_id!r}: {', '.join(prefixed[:5])}"
                    + (", ..." if len(prefixed) > 5 else ""),
                    "give more of the id",
                )
            sp = stored[prefixed[0]] if prefixed else None
        if sp is None:
            raise InputError(f"no paper with id {paper_id!r}", "see `citecraft papers` for the ids")
        if as_json:
            emit_json(sp.paper.to_dict())
        else:
            p = sp.paper
            click.echo(f"# {p.title}\n")
            for label, value in (
                ("id", p.paper_id),
                ("key", p.cite_key),
                ("date", p.display_date() and readable_date(p.display_date())),
                ("authors", ", ".join(p.authors) or p.n_authors),
                ("organization", p.organization),
                ("upvotes", p.upvotes),
                ("url", p.url),
                ("sources", "; ".join(p.sources)),
            ):
                if value not in (None, ""):
                    click.echo(f"- {label}: {value}")
            click.echo(f"\n{p.abstract}")
        return
    if as_json:
        emit_json([sp.paper.to_dict() for sp in stored.values()])
        return
    width = max((len(pid) for pid in stored), default=0)
    for sp in sorted(stored.values(), key=lambda s: s.paper.title.lower()):
        p = sp.paper
        click.echo(
            f"{p.paper_id:<{width}} {readable_date(p.display_date()) if p.display_date() else '':<10}  {p.title}"
        )
    click.echo(f"{len(stored)} papers")


def filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            click.option(
                "--since",
                help="Only papers dated on/after this date (YYYY-MM-DD or YYYY). Date filters leave out "
                "papers without a full date.",
            ),
            click.option("--until", help="Only papers dated on/before this date."),
            click.option("--min-authors", type=int, help="Only papers with at least N authors."),
            click.option("--max-authors", type=int, help="Only papers with at most N authors."),
        ]
    ):
        fn = decorator(fn)
    return fn


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 500), default=10, show_default=True, help="Number of papers.")
@filter_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: {query, results: [{paper_id, title, date, score, snippet}]}.",
)
@click.pass_obj
def search(
    app: App,
    query: str,
    k: int,
    since: str | None,
    until: str | None,
    min_authors: int | None,
    max_authors: int | None,
    as_json: bool,
) -> None:
    """Hybrid search (dense + BM25) over the index; one line per paper."""
    from .retrieve import Retriever

    _check_query(query, "query")
    filters = _filters(since, until, min_authors, max_authors)
    result = Retriever(app.ensure_index()).search(query, k=k, filters=filters)
    if as_json:
        emit_json(result.to_json())
        return
    if not result.hits:
        click.echo("No papers match" + (f" ({filters.describe()})." if filters.active else "."))
        return
    for i, hit in enumerate(result.hits, 1):
        click.echo(f"{i:>2}. {hit.title}  [{readable_date(hit.date)}]  score {hit.score:.3f}  {hit.paper_id}")
        click.echo(f"    {hit.snippet}")


def model_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            click.option(
                "-m",
                "--model",
                envvar="CITECRAFT_MODEL",
                help="Chat model (e.g. gpt-4o-mini, llama3.1); 'extractive' or none = offline [env: CITECRAFT_MODEL].",
            ),
            click.option(
                "--base-url",
                envvar="OPENAI_BASE_URL",
                help="OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama [env: OPENAI_BASE_URL].",
            ),
        ]
    ):
        fn = decorator(fn)
    return fn


def _chat_model(app: App, model: str | None, base_url: str | None) -> Any:
    from .models import get_chat_model

    if base_url:
        app.settings.llm.base_url = base_url
    return get_chat_model(app.settings, model)


def _check_writable(path: Path | None, what: str) -> None:
    """Fail before the work, not after it, when `path` cannot be written as a file."""
    from .errors import InputError

    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory", "give a file name, e.g. refs.bib")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{what} {path}: not writable")


_EXAMPLES = {
    "query": 'citecraft search "video compression"',
    "question": 'citecraft ask "Which datasets does NeRV++ evaluate on?"',
    "topic": 'citecraft summarize "spiking neural networks"',
}


def _check_query(text: str, what: str) -> str:
    from .errors import InputError

    if not text.strip():
        raise InputError(f"the {what} is empty", f"e.g. {_EXAMPLES[what]}")
    return text


def _filters(since: str | None, until: str | None, min_authors: int | None, max_authors: int | None) -> Any:
    """Filters from the command line; impossible ones are a usage error, not an empty result."""
    from .errors import InputError
    from .retrieve import Filters

    filters = Filters.parse(since, until, min_authors, max_authors)
    for flag, value in (("--min-authors", min_authors), ("--max-authors", max_authors)):
        if value is not None and value < 1:
            raise InputError(f"{flag} {value}: a paper has at least one author")
    if min_authors is not None and max_authors is not None and min_authors > max_authors:
        raise InputError(f"--min-authors {min_authors} is above --max-authors {max_authors}")
    if filters.since and filters.until and filters.since > filters.until:
        raise InputError(f"--since {filters.since} is after --until {filters.until}")
    return filters


def _nothing_matches(index: Any, filters: Any, as_json: bool) -> bool:
    """Say so when the filters leave no paper at all (rather than "the collection does not cover this")."""
    if not filters.active or as_json or any(filters.accepts(sp) for sp in index.papers().values()):
        return False
    click.echo(f"No papers match ({filters.describe()}).")
    return True


def _write_bib(path: Path, paper_ids: list[str], index: Any) -> None:
    from .bibtex import to_bibtex

    if not paper_ids:
        _err_console().print(f"[dim]nothing cited: {path} not written[/dim]")
        return
    from .errors import InputError

    try:
        path.write_text(
            to_bibtex([index.get(pid).paper for pid in paper_ids if index.get(pid)]), encoding="utf-8"
        )
    except OSError as exc:
        raise InputError(f"cannot write --bib {path} ({exc.strerror or exc})") from None
    _err_console().print(
        f"[dim]wrote {len(paper_ids)} BibTeX entr{'y' if len(paper_ids) == 1 else 'ies'} to {path}[/dim]"
    )


@cli.command()
@click.argument("question")
@model_options
@filter_options
@click.option(
    "-k", "k", type=click.IntRange(1, 20), default=6, show_default=True, help="Papers given to the answer."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (question, answer, abstained, citations, ...)."
)
@click.option("--bib", type=click.Path(path_type=Path), help="Write the cited papers as BibTeX to FILE.")
@click.option("--no-stream", is_flag=True, help="Do not stream an LLM's answer to the terminal.")
@click.pass_obj
def ask(
    app: App,
    question: str,
    model: str | None,
    base_url: str | None,
    since: str | None,
    until: str | None,
    min_authors: int | None,
    max_authors: int | None,
    k: int,
    as_json: bool,
    bib: Path | None,
    no_stream: bool,
) -> None:
    """Answer QUESTION from the papers, every sentence cited [n].

    Offline (no model configured) the extractive engine quotes the best supporting
    sentences. With --model / OPENAI_API_KEY / --base-url an LLM writes the answer;
    either way citations are validated against the retrieved papers.
    """
    from .answer import Answerer
    from .chat import refers_back
    from .errors import InputError

    _check_query(question, "question")
    if refers_back(question):
        raise InputError(
            "the question refers to a paper of an earlier answer",
            "ask it in `citecraft chat`, which keeps the conversation, or name the paper",
        )
    filters = _filters(since, until, min_authors, max_authors)
    _check_writable(bib, "--bib")
    chat_model = _chat_model(app, model, base_url)
    if _nothing_matches(app.ensure_index(), filters, as_json):
        return
    streamed = chat_model is not None and not as_json and not no_stream and sys.stdout.isatty()
    on_token = (lambda t: click.echo(t, nl=False)) if streamed else None
    answer = Answerer(app.ensure_index(), chat_model, k=k).ask(question, filters, on_token=on_token)
    if streamed:
        click.echo("\n")
    if as_json:
        emit_json(answer.to_json())
    else:
        click.echo(answer.to_markdown())
        if answer.uncited_sentences:
            _err_console().print(f"[yellow]{len(answer.uncited_sentences)} sentence(s) cite nothing[/yellow]")
    if bib:
        _write_bib(bib, [c.paper_id for c in answer.citations], app.index)


@cli.command()
@click.argument("topic")
@model_options
@filter_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (topic, summary, papers, groups, citations)."
)
@click.option("--bib", type=click.Path(path_type=Path), help="Write the cited papers as BibTeX to FILE.")
@click.pass_obj
def summarize(
    app: App,
    topic: str,
    model: str | None,
    base_url: str | None,
    since: str | None,
    until: str | None,
    min_authors: int | None,
    max_authors: int | None,
    as_json: bool,
    bib: Path | None,
) -> None:
    """Summarize ALL papers on TOPIC, grouped by sub-theme, each with its citation.

    Retrieves widely, keeps the papers that are on topic (a calibrated cut offline,
    an LLM relevance check with --model) and says how many it found.
    """
    from .summarize import summarize_topic

    _check_query(topic, "topic")
    filters = _filters(since, until, min_authors, max_authors)
    _check_writable(bib, "--bib")
    if _nothing_matches(app.ensure_index(), filters, as_json):
        return
    result = summarize_topic(app.ensure_index(), topic, _chat_model(app, model, base_url), filters)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(result.to_markdown())
    if bib:
        _write_bib(bib, [c.paper_id for c in result.citations], app.index)


@cli.command()
@model_options
@click.option(
    "--session", default="default", show_default=True, help="Conversation name (history kept per session)."
)
@click.pass_obj
def chat(app: App, model: str | None, base_url: str | None, session: str) -> None:
    """Multi-turn questions; follow-ups like "how do the second and third compare?" are resolved.

    Commands: /sources (papers cited in the last answer), /reset (forget the
    conversation), /quit. History is saved under the home directory.
    """
    from .chat import ChatSession

    convo = ChatSession(app.ensure_index(), _chat_model(app, model, base_url), name=session)
    if convo.warnings:
        from rich.markup import escape

        for warning in convo.warnings:
            _err_console().print(f"[yellow]warning:[/yellow] {escape(warning)}", markup=True, soft_wrap=True)
    click.echo(f"citecraft chat ({len(app.index.papers())} papers; /sources, /reset, /quit)")
    interactive = sys.stdin.isatty()  # piped questions get answers only, no "you> " prompts in the output
    while True:
        if interactive:
            try:
                question = click.prompt("you", prompt_suffix="> ", default="", show_default=False).strip()
            except (EOFError, click.exceptions.Abort):
                click.echo()
                break
        else:
            line = sys.stdin.readline()
            if not line:
                break
            question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit", "/q"):
            break
        if question == "/reset":
            convo.reset()
            click.echo("(conversation cleared)")
            continue
        if question == "/sources":
            sources = convo.sources()
            click.echo(
                "\n".join(f"[{c['n']}] {c['title']} ({readable_date(c['date'])})" for c in sources)
                or "(no sources yet)"
            )
            continue
        if question.startswith("/"):
            click.echo("unknown command; use /sources, /reset or /quit")
            continue
        problem = convo.reference_problem(question)
        if problem:
            click.echo(problem + "\n")
            continue
        standalone, answer = convo.ask(question)
        if standalone != question:
            click.echo(f"(searching for: {standalone})")
        click.echo(answer.to_markdown() + "\n")


from .eval_cli import eval_command  # noqa: E402

cli.add_command(eval_command, "eval")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code so tests can assert on it."""
    try:
        code = cli.main(args=argv, prog_name="citecraft", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0)
    return code if isinstance(code, int) else 0


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())


if __name__ == "__main__":
    run()

"""`graphmem bench …`: retrieval benchmarks on public QA sets, extraction quality on a
labelled set (JSON + Markdown + plot)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .bench.common import METHODS, console, dedupe, parse_methods
from .bench.datasets import BenchError
from .errors import GraphMemError

bench_app = typer.Typer(
    help="Benchmarks: multi-hop passage recall, LoCoMo evidence recall, extraction quality.",
    no_args_is_help=True,
)

Out = Annotated[Path, typer.Option("--out", help="result JSON (a .md table is written beside it)")]
Methods = Annotated[
    str, typer.Option("--methods", help="comma-separated search presets to compare")
]
LimitQuestions = Annotated[
    int | None, typer.Option("--limit-questions", min=1, help="only the first N questions")
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="items per add_many call")]
WorkDir = Annotated[
    Path | None,
    typer.Option("--work-dir", help="parent of the fresh temporary data dir (default: system tmp)"),
]
Keep = Annotated[bool, typer.Option("--keep", help="keep the temporary data dir")]
ALL_METHODS = ",".join(METHODS)
PlotPath = Annotated[Path | None, typer.Option("--plot", help="also write a recall@k PNG")]


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except (BenchError, GraphMemError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e


def _write(result: dict[str, Any], out: Path, plot_path: Path | None) -> None:
    from .bench.report import markdown, plot

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = markdown(result)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    if plot_path is not None:
        plot([result], plot_path)
    console.print(md)
    console.print(f"wrote {out} and {out.with_suffix('.md')}")


@bench_app.command()
def multihop(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="holds questions.json + corpus.json")
    ],
    out: Out,
    methods: Methods = ALL_METHODS,
    limit_questions: LimitQuestions = None,
    search_limit: Annotated[
        int, typer.Option("--search-limit", min=1, help="search limit per query")
    ] = 20,
    batch_size: BatchSize = 64,
    work_dir: WorkDir = None,
    keep: Keep = False,
    plot_path: PlotPath = None,
) -> None:
    """Passage recall@2/@5 of every preset on a MuSiQue, HotpotQA or generic set."""
    from .bench.multihop import MultihopOptions, run_multihop

    def run() -> dict[str, Any]:
        opts = MultihopOptions(
            methods=parse_methods(methods),
            limit_questions=limit_questions,
            search_limit=search_limit,
            batch_size=batch_size,
            work_dir=work_dir,
            keep=keep,
        )
        return run_multihop(data_dir, opts)

    _write(_guard(run), out, plot_path)


@bench_app.command()
def locomo(
    data: Annotated[Path, typer.Option("--data", help="LoCoMo JSON (list of conversations)")],
    out: Out,
    methods: Methods = ALL_METHODS,
    limit_conversations: Annotated[
        int | None, typer.Option("--limit-conversations", min=1, help="first N conversations")
    ] = None,
    limit_questions: LimitQuestions = None,
    batch_size: BatchSize = 64,
    work_dir: WorkDir = None,
    keep: Keep = False,
    plot_path: PlotPath = None,
) -> None:
    """Evidence recall@5/@10/@20 per category of every preset on LoCoMo (categories 1–4).

    --limit-questions caps the questions per conversation."""
    from .bench.locomo import LocomoOptions, run_locomo

    def run() -> dict[str, Any]:
        opts = LocomoOptions(
            methods=parse_methods(methods),
            limit_conversations=limit_conversations,
            limit_questions=limit_questions,
            batch_size=batch_size,
            work_dir=work_dir,
            keep=keep,
        )
        return run_locomo(data, opts)

    _write(_guard(run), out, plot_path)


@bench_app.command()
def extract(
    data: Annotated[
        Path, typer.Option("--data", help="labelled JSON Lines (benchmarks/data/extraction.jsonl)")
    ],
    out: Out,
    extractor: Annotated[
        str,
        typer.Option(
            "--extractor",
            help="comma-separated: offline (spaCy), llm (the GRAPHMEM_LLM_* settings)",
        ),
    ] = "offline",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="first N items")] = None,
) -> None:
    """Triple precision/recall and entity F1 of extractors against labelled sentences."""
    from .bench.extraction import ExtractionOptions, run_extraction

    def run() -> dict[str, Any]:
        names = tuple(dedupe(e.strip() for e in extractor.split(",") if e.strip()))
        return run_extraction(data, ExtractionOptions(extractors=names, limit=limit))

    _write(_guard(run), out, None)


@bench_app.command()
def report(
    files: Annotated[list[Path], typer.Argument(help="result JSON files of bench runs")],
    plot_path: PlotPath = None,
) -> None:
    """Re-render the Markdown table beside each JSON file and, with --plot, one PNG of all."""
    from .bench.report import markdown, plot

    results = []
    for f in files:
        try:
            result = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            console.print(f"[red]error:[/red] cannot read {f}: {e}")
            raise typer.Exit(2) from e
        f.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
        console.print(f"wrote {f.with_suffix('.md')}")
        results.append(result)
    if plot_path is not None:
        plot(results, plot_path)
        console.print(f"wrote {plot_path}")

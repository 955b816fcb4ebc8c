"""Which models fit this machine: published shapes, GGUF files the test makes (plain, Ollama's layout, LM Studio's
folder, split, projector, not a GGUF), and the estimate against what llama.cpp itself allocates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.quant import ModelShape, find_model_files, shape_from_gguf

# Llama 3.2 3B's published shape: 28 layers, 8 KV heads of 128, F16 cache: 2 × 28 × 8 × 128 × 2 bytes per token.
LLAMA_3B_KV_PER_TOKEN = 2 * 28 * 8 * 128 * 2


def test_the_study_question_a_3b_does_not_fit_2_9_gb_at_8192_and_a_1b_does() -> None:
    fits = nx.recommend_models(ram_gb=2.9, context=8192, default_folders=False)
    by_name = {f.shape.name: f for f in fits.fits}
    three, one = by_name["Llama 3.2 3B"], by_name["Llama 3.2 1B"]
    assert three.estimate.kv_cache_mb == pytest.approx(LLAMA_3B_KV_PER_TOKEN * 8192 / 1e6)
    assert not three.fits and three.estimate.total_mb > 2900
    assert one.fits and one.estimate.total_mb < 2900
    assert 0 < three.max_context < 8192  # how far the context would have to shrink for it to fit
    assert "Llama 3.2 3B" in fits.verdict() and "2,900 MB" in fits.verdict()  # the closest miss is named
    assert fits.best is not None and fits.best.fits
    assert all(f.fits for f in fits.fits[: len(fits.fitting)])  # fitting ones first
    html = fits._repr_html_()
    assert "arithmetic" in html and "KV cache" in html


def test_the_old_layer_guess_is_gone() -> None:
    with pytest.raises(ValueError, match="n_layers and kv_dim"):
        nx.estimate_memory(3.2, 4.85, 8192)
    explicit = nx.estimate_memory(3.21, "Q4_K_M", 8192, n_layers=28, kv_dim=8 * 128)
    published = nx.estimate_memory("Llama 3.2 3B", "Q4_K_M", 8192)
    assert explicit.kv_cache_mb == pytest.approx(published.kv_cache_mb)
    assert "28 layers" in published.arithmetic()
    with pytest.raises(ValueError, match="neither a GGUF file nor a published model"):
        nx.estimate_memory("Llama 9 99B", "Q4_K_M", 8192)
    with pytest.raises(ValueError, match="no typical size"):
        nx.estimate_memory("Llama 3.2 3B", "Q7_X", 8192)


def test_sliding_window_layers_hold_only_their_window() -> None:
    gemma = nx.published_shapes()["Gemma 3 4B"]
    full = ModelShape("full", gemma.parameters, gemma.kv_heads, gemma.key_length, gemma.value_length, 131072)
    assert gemma.kv_cache_bytes(512) == full.kv_cache_bytes(512)  # shorter than the window: no difference
    assert gemma.kv_cache_bytes(32768) < full.kv_cache_bytes(32768) / 4  # 5 of 6 layers keep 1024 + 512


def _make_library(root: Path) -> tuple[dict[str, Path], int]:
    """A folder of GGUF files, an Ollama models folder and an LM Studio one, all holding the bundled model."""
    src = nx.bundled_model_path()
    plain = root / "mine"
    plain.mkdir()
    shutil.copy(src, plain / "smol.gguf")
    (plain / "mmproj-smol-f16.gguf").write_bytes(Path(src).read_bytes()[:4096])  # a projector: not a model
    (plain / "notes.gguf").write_text("not a model")
    data = Path(src).read_bytes()
    half = len(data) // 2  # a split model: only the first part has the header; both count for size
    (plain / "big-00001-of-00002.gguf").write_bytes(data)
    (plain / "big-00002-of-00002.gguf").write_bytes(data[:half])
    ollama = root / "ollama"
    digest = "sha256:" + "ab" * 32
    (ollama / "blobs").mkdir(parents=True)
    shutil.copy(src, ollama / "blobs" / digest.replace(":", "-"))
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    manifest.parent.mkdir(parents=True)
    layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": len(data)}]
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))
    gone = ollama / "manifests" / "registry.ollama.ai" / "library" / "gone" / "latest"
    gone.parent.mkdir(parents=True)
    gone.write_text(json.dumps({"layers": [dict(layers[0], digest="sha256:" + "cd" * 32)]}))
    lmstudio = root / "home" / ".lmstudio" / "models" / "publisher" / "smol-GGUF"
    lmstudio.mkdir(parents=True)
    shutil.copy(src, lmstudio / "smol-Q4_1.gguf")
    return {"plain": plain, "ollama": ollama, "home": root / "home"}, len(data)


def test_models_the_user_has_are_read_from_their_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib, size = _make_library(tmp_path)
    monkeypatch.setenv("HOME", str(lib["home"]))
    monkeypatch.setenv("OLLAMA_MODELS", str(lib["ollama"]))
    found, skipped = find_model_files([lib["plain"]])
    where = {m.name: m.found_in for m in found}
    mine = str(lib["plain"])
    assert where == {"smol": mine, "big": mine, "smollm2:135m": "Ollama", "smol-Q4_1": "LM Studio"}
    assert next(m for m in found if m.name == "big").size_bytes == size + size // 2
    reasons = " ".join(why for _, why in skipped)
    assert "no GGUF magic" in reasons and "blob" in reasons and "missing" in reasons

    fits = nx.recommend_models(ram_gb=1.0, context=2048, folders=[lib["plain"]], published=False)
    assert {f.found_in for f in fits.fits} == {str(lib["plain"]), "Ollama", "LM Studio"}
    for f in fits.fits:
        assert f.shape.n_layers == 30 and set(f.shape.kv_heads) == {3} and f.shape.key_length == 64
        assert f.shape.context_length == 8192 and f.shape.vocab == 49152 and f.quant == "Q4_1"
        assert f.fits and "file size" in f.estimate.arithmetic()
    smol = next(f for f in fits.fits if f.shape.name == "smol")
    assert smol.estimate.weights_mb == pytest.approx(size / 1e6)
    assert nx.recommend_models(ram_gb=0.01, folders=[lib["plain"]], published=False).best is None


def test_bad_input_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="no folder at"):
        nx.recommend_models(folders=["/nonexistent/models"], default_folders=False)
    with pytest.raises(ValueError, match="context must be at least 1"):
        nx.recommend_models(context=0, default_folders=False)


@pytest.mark.server
def test_the_estimate_matches_what_llama_cpp_allocates() -> None:
    """The KV cache to the byte and the compute buffer within 10 %, against llama.cpp's own log of its buffers."""
    from nxs_lab._native_log import captured_native_log
    from nxs_lab.quant._llama import llama_cpp_module

    path = nx.bundled_model_path()
    llama_cpp = llama_cpp_module()
    with captured_native_log() as log:
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, verbose=True)
    llm.close()
    text = "\n".join(log)
    kv_mib = float(re.search(r"llama_kv_cache: size =\s*([\d.]+) MiB", text).group(1))
    compute_mib = float(re.search(r"CPU compute buffer size (?:=|is)\s*([\d.]+) MiB", text).group(1))
    est = nx.estimate_memory(path, n_ctx=1024)
    assert est.kv_cache_mb == pytest.approx(kv_mib * 2**20 / 1e6, rel=1e-6)
    assert est.overhead_mb - 32 == pytest.approx(compute_mib * 2**20 / 1e6, rel=0.1)
    assert shape_from_gguf(path).n_layers == 30


def test_the_header_reader_agrees_with_the_gguf_package(tmp_path: Path) -> None:
    """The kit parses headers itself (milliseconds, not the seconds gguf's reader takes): same tensors, same values."""
    import gguf

    from nxs_lab.quant.gguf import read_gguf

    path = nx.bundled_model_path()
    mine = read_gguf(path)
    theirs = gguf.GGUFReader(path, "r")
    assert [(n, e) for n, _, e, _ in mine.tensors] == [(t.name, int(t.n_elements)) for t in theirs.tensors]
    assert [t.lower() for _, t, _, _ in mine.tensors] == [t.tensor_type.name.lower() for t in theirs.tensors]
    for key in ("llama.block_count", "llama.attention.head_count_kv", "general.name", "llama.rope.freq_base"):
        assert mine.metadata[key] == theirs.fields[key].contents()
    assert mine.metadata["tokenizer.ggml.tokens"] == "<array of 49152>"
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(Path(path).read_bytes()[:100_000])  # the header ends mid-vocabulary
    with pytest.raises(ValueError, match=r"cut\.gguf is not a readable GGUF file"):
        read_gguf(cut)

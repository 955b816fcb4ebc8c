"""The GGUF models a user already has: LM Studio's and Ollama's model folders where present, and any folder given.

    >>> found, skipped = find_model_files()                # doctest: +SKIP

Ollama keeps a model as a content-addressed blob named by a manifest (``manifests/<registry>/<namespace>/<model>/
<tag>`` names the blob ``blobs/sha256-…`` whose media type is ``application/vnd.ollama.image.model``); LM Studio and
everything else keep ``.gguf`` files. A model split over several files (``-00001-of-00003.gguf``) counts once, at
its whole size. Projector files of vision models (``mmproj``) are not models and are left out.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelFile", "default_model_folders", "find_model_files"]

_OLLAMA_MODEL = "application/vnd.ollama.image.model"
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str
    path: Path
    size_bytes: int  # the whole model's, all parts of a split one
    found_in: str  # "LM Studio", "Ollama" or the folder given


def default_model_folders() -> list[tuple[str, Path]]:
    """Where LM Studio and Ollama keep models on this machine (the ones that exist): LM Studio's
    ``~/.lmstudio/models`` (``~/.cache/lm-studio/models`` before 0.3), Ollama's ``$OLLAMA_MODELS``, else
    ``~/.ollama/models`` and the Linux service's ``/usr/share/ollama/.ollama/models``."""
    home = Path.home()
    candidates = [("LM Studio", home / ".lmstudio" / "models"), ("LM Studio", home / ".cache" / "lm-studio" / "models")]
    ollama_env = os.environ.get("OLLAMA_MODELS")
    if ollama_env:
        candidates.append(("Ollama", Path(ollama_env).expanduser()))
    else:
        candidates += [("Ollama", home / ".ollama" / "models"), ("Ollama", Path("/usr/share/ollama/.ollama/models"))]
    return [(label, p) for label, p in candidates if p.is_dir()]


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


def _ollama_name(manifest: Path, root: Path) -> str:
    parts = manifest.relative_to(root).parts  # registry, namespace, model, tag
    namespace, model, tag = parts[-3:] if len(parts) >= 3 else ("", *parts[-2:])
    prefix = "" if namespace == "library" else f"{namespace}/"
    return f"{prefix}{model}:{tag}"


def _ollama_models(folder: Path, skipped: list[tuple[str, str]]) -> list[ModelFile]:
    root = folder / "manifests"
    found = []
    for manifest in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError, AttributeError) as exc:
            skipped.append((str(manifest), f"not a readable Ollama manifest: {exc}"))
            continue
        digests = [layer.get("digest", "") for layer in layers if layer.get("mediaType") == _OLLAMA_MODEL]
        if not digests:
            continue  # an embedding-free adapter or a manifest of something else
        blob = folder / "blobs" / digests[0].replace(":", "-")
        if not blob.is_file():
            skipped.append((str(manifest), f"its model blob {blob.name} is missing"))
            continue
        found.append(ModelFile(_ollama_name(manifest, root), blob, blob.stat().st_size, "Ollama"))
    return found


def _gguf_files(folder: Path, label: str, skipped: list[tuple[str, str]]) -> list[ModelFile]:
    found = []
    for path in sorted(folder.rglob("*.gguf")):
        if path.name.lower().startswith("mmproj"):
            continue
        split = _SPLIT.search(path.name)
        name, size = path.stem, path.stat().st_size
        if split:
            if split.group(1) != "00001":
                continue  # counted with its first part
            name = path.name[: split.start()]
            size = sum(p.stat().st_size for p in path.parent.glob(f"{name}-*-of-{split.group(2)}.gguf"))
        if not _is_gguf(path):
            skipped.append((str(path), "not a GGUF file (no GGUF magic)"))
            continue
        found.append(ModelFile(name, path, size, label if label != "folder" else str(folder)))
    return found


def find_model_files(
    folders: list[str | os.PathLike[str]] | None = None, *, default_folders: bool = True
) -> tuple[list[ModelFile], list[tuple[str, str]]]:
    """GGUF models in ``folders`` (an Ollama models folder is recognised by its ``manifests`` and ``blobs``) and,
    with ``default_folders``, in LM Studio's and Ollama's. Returns the models and ``(path, why)`` for what was
    left out. A folder given that does not exist is an error."""
    places: list[tuple[str, Path]] = []
    for f in folders or ():
        p = Path(f).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(f"no folder at {p} (folders= names where your GGUF files are)")
        places.append(("folder", p))
    if default_folders:
        places += default_model_folders()
    found: list[ModelFile] = []
    skipped: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for label, folder in places:
        ollama = (folder / "manifests").is_dir() and (folder / "blobs").is_dir()
        models = _ollama_models(folder, skipped) if ollama else _gguf_files(folder, label, skipped)
        for m in models:
            if m.path.resolve() not in seen:
                seen.add(m.path.resolve())
                found.append(m)
    return found, skipped

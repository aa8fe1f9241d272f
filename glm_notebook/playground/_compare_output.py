"""What a compare leaves behind: the static Markdown copy saved in the notebook, and terminal text.

The Markdown has a bold summary line (settings, time, failures, model, fixed options), then one
headed section per panel in grid order: ``### 2. temperature=1.0 · sample 1/2``, the answer with
its reasoning, error and status line as ``static_bundle`` builds them (so model output is already
neutralised: no raw HTML, no script), separated by rules. Headings and the summary hold only our own
text, escaped so it shows literally.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._compare import Panel

__all__ = ["compare_bundle", "compare_summary", "panel_text"]


def _escape_inline(text: str) -> str:
    """Show ``text`` literally on one Markdown line."""
    return re.sub(r"([\\`*_\[\]<>#!|~&])", r"\\\1", " ".join(str(text).split()))


def compare_summary(panels: Sequence[Panel], elapsed: float) -> str:
    """``Compare: 2 settings × 3 samples, 1.2 s in all, slowest panel 1.1 s, 1 failed``."""
    samples = panels[0].setting.samples if panels else 1
    settings = len(panels) // max(1, samples)
    parts = [f"{settings} setting" + ("s" if settings != 1 else "")]
    if samples > 1:
        parts[0] += f" × {samples} samples"
    parts.append(f"{elapsed:.1f} s in all")
    durations = [p.result.metrics.duration_s for p in panels if p.result.metrics.duration_s]
    if durations:
        parts.append(f"slowest panel {max(durations):.1f} s")
    failed = sum(p.error is not None for p in panels)
    if failed:
        parts.append(f"{failed} failed")
    return "Compare: " + ", ".join(parts)


def compare_bundle(panels: Sequence[Panel], *, model: str, offline: bool, elapsed: float) -> dict[str, str]:
    """``{"text/markdown": ..., "text/plain": ...}`` for the whole grid."""
    from ..answer._saved_copy import static_bundle

    head = [compare_summary(panels, elapsed)]
    if model:
        head.append(f"model {model}")
    if panels:
        varied = panels[0].setting.varied
        fixed = {k: v for k, v in panels[0].setting.options.items() if k not in varied}
        if fixed:
            head.append(", ".join(f"{k}={v!r}" for k, v in fixed.items()))
    md = [f"**{_escape_inline(head[0])}**" + "".join(f" · {_escape_inline(h)}" for h in head[1:])]
    plain = [" · ".join(head)]
    for number, panel in enumerate(panels, 1):
        label = panel.setting.label()
        bundle = static_bundle(panel.result, panel.error, offline=offline)
        md.append(f"### {number}. {_escape_inline(label)}\n\n{bundle['text/markdown'].strip()}")
        plain.append(f"=== {number}. {label} ===\n{bundle['text/plain']}")
    return {"text/markdown": "\n\n---\n\n".join(md) + "\n", "text/plain": "\n\n".join(plain)}


def panel_text(number: int, panel: Panel, *, offline: bool) -> str:
    """One panel for a terminal: heading, answer, error line, status in brackets."""
    from .._status import status_line, terminal_safe

    # the answer and the error are the model's and the server's: no control sequences
    lines = [f"\n=== {number}. {panel.setting.label()} ===", terminal_safe(panel.result.text.strip("\n"))]
    if panel.error is not None:
        message = getattr(panel.error, "message", None) or str(panel.error)
        lines.append(f"Error: {' '.join(terminal_safe(message).split())}")
    lines.append(f"[{status_line(panel.result, panel.error, offline=offline)}]")
    return "\n".join(line for line in lines if line) + "\n"

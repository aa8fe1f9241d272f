"""SessionUsage: the answers of this session per model, for ``%glm usage``.

Per model: calls, prompt and completion tokens as the server reported them, and the cost where
the price table knows the model (``result.cost``). Unknown is not zero: answers without usage
(llama.cpp, the offline model, never sends it in streams) are counted as "tokens not reported"
with their chunks, and answers without a price as "cost unknown", never as 0 tokens or $0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._prices import format_cost
from .._types import ChatResult


@dataclass
class ModelUsage:
    """One model's totals."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unreported: int = 0  # calls whose server sent no usage
    unreported_chunks: int = 0
    cost: float = 0.0
    priced: int = 0  # calls with a known cost

    def line(self, model: str) -> str:
        parts = [f"{self.calls} call" + ("" if self.calls == 1 else "s")]
        reported = self.calls - self.unreported
        if reported:
            parts.append(f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens")
        if self.unreported:
            which = "" if not reported else f" for {self.unreported} of them"
            chunks = f"{self.unreported_chunks:,} chunk" + ("" if self.unreported_chunks == 1 else "s")
            parts.append(f"tokens not reported{which} ({chunks})")
        if self.priced == self.calls:
            parts.append(format_cost(self.cost))
        elif self.priced:
            parts.append(f"{format_cost(self.cost)} for {self.priced} calls, cost unknown for the others")
        else:
            parts.append("cost unknown")
        return f"  {model}: " + ", ".join(parts)


@dataclass
class SessionUsage:
    """Requests, tokens and cost this session, per model (tokens only when the server reported them)."""

    requests: int = 0
    failed: int = 0
    stopped: int = 0
    replayed: int = 0  # answered from an answer file: no request, no tokens, no cost this session
    by_model: dict[str, ModelUsage] = field(default_factory=dict)

    def record(self, result: ChatResult, error: BaseException | None) -> None:
        if result.origin.replayed and error is None:
            self.replayed += 1  # its recorded usage was paid when it was recorded, not now
            return
        self.requests += 1
        self.failed += error is not None
        self.stopped += result.stopped
        model = result.model or result.request.get("model") or "?"
        totals = self.by_model.setdefault(model, ModelUsage())
        totals.calls += 1
        if result.usage:
            totals.prompt_tokens += result.usage.prompt_tokens
            totals.completion_tokens += result.usage.completion_tokens
        else:
            totals.unreported += 1
            totals.unreported_chunks += result.metrics.chunks
        cost = result.cost
        if cost is not None:
            totals.cost += cost
            totals.priced += 1

    @property
    def cost(self) -> float | None:
        """USD over the priced calls; None when no call had a known cost."""
        priced = [m for m in self.by_model.values() if m.priced]
        return sum(m.cost for m in priced) if priced else None

    def report(self) -> str:
        head = f"{self.requests} requests this session ({self.failed} failed, {self.stopped} stopped)"
        if self.replayed:
            head += f"; {self.replayed} answers replayed from an answer file (no tokens, no cost)"
        cost = self.cost
        if cost is not None:
            complete = all(m.priced == m.calls for m in self.by_model.values())
            head += f", {format_cost(cost)}" + ("" if complete else " for the priced calls")
        return "\n".join([head, *(totals.line(model) for model, totals in self.by_model.items())])

"""Retry policy for Continuous and Debounce executions: attempts, backoff, jitter and a time budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..effect import Duration, DurationInput, RandomService


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry number ``n`` (1 = the first retry)."""

    kind: str
    base_ms: float
    factor: float = 2.0
    increment_ms: float = 0.0
    max_ms: float | None = None

    @staticmethod
    def constant(delay: DurationInput) -> Backoff:
        return Backoff("constant", Duration.decode(delay).to_millis())

    @staticmethod
    def linear(initial: DurationInput, increment: DurationInput, max: DurationInput | None = None) -> Backoff:
        return Backoff(
            "linear",
            Duration.decode(initial).to_millis(),
            increment_ms=Duration.decode(increment).to_millis(),
            max_ms=None if max is None else Duration.decode(max).to_millis(),
        )

    @staticmethod
    def exponential(base: DurationInput, factor: float = 2.0, max: DurationInput | None = None) -> Backoff:
        if factor < 1:
            raise ValueError(f"Backoff.exponential needs factor >= 1, got {factor}")
        return Backoff(
            "exponential",
            Duration.decode(base).to_millis(),
            factor=factor,
            max_ms=None if max is None else Duration.decode(max).to_millis(),
        )

    # Presets for common cases.
    @staticmethod
    def standard() -> Backoff:
        """1 s, 2 s, 4 s, ... capped at 30 s (the default)."""
        return Backoff.exponential("1 second", 2.0, "30 seconds")

    @staticmethod
    def aggressive() -> Backoff:
        """100 ms, 200 ms, 400 ms, ... capped at 5 s."""
        return Backoff.exponential("100 millis", 2.0, "5 seconds")

    @staticmethod
    def patient() -> Backoff:
        """5 s, 10 s, 20 s, ... capped at 10 minutes."""
        return Backoff.exponential("5 seconds", 2.0, "10 minutes")

    def delay_ms(self, retry: int) -> float:
        """The delay before retry number ``retry`` (1-based), before jitter."""
        n = max(retry, 1) - 1
        if self.kind == "constant":
            delay = self.base_ms
        elif self.kind == "linear":
            delay = self.base_ms + self.increment_ms * n
        else:
            delay = self.base_ms * self.factor**n
        return min(delay, self.max_ms) if self.max_ms is not None else delay


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retry a failed execution (typed error or defect) through the instance's alarm, durably.

    ``max_attempts`` counts executions: 3 means the first try and two retries. When attempts or
    ``max_duration`` run out, ``job.retryExhausted`` is emitted and the instance is terminated.
    """

    max_attempts: int
    delay: Backoff = field(default_factory=Backoff.standard)
    jitter: bool = True
    max_duration: DurationInput | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryConfig.max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_duration is not None:
            Duration.decode(self.max_duration)

    def next_delay_ms(self, failed_attempt: int, random: RandomService) -> float:
        """Delay after execution number ``failed_attempt`` failed; ±10 % jitter from ``random`` unless disabled."""
        delay = self.delay.delay_ms(failed_attempt)
        return delay * random.next_between(0.9, 1.1) if self.jitter else delay

    def max_duration_ms(self) -> float | None:
        return None if self.max_duration is None else Duration.decode(self.max_duration).to_millis()

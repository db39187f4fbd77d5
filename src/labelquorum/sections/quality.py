"""``[quality]``: golden questions for every annotator and the monitor over them."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import Strict

__all__ = ["MonitorConfig", "QualityConfig"]


class MonitorConfig(Strict):
    """The CUSUM watch over each annotator's golden answers (``quality.monitor``)."""

    theta_good: float = Field(0.9, ge=0, le=1)
    """The golden-question quality θ expected of a working annotator."""
    theta_bad: float = Field(0.5, ge=0, le=1)
    """The quality that should raise an alert; also the θ₀ of the one-sided test that
    ``labelquorum status`` shows (H0: θ ≤ theta_bad, at the 5 % level)."""
    threshold: float = Field(6.0, gt=0)
    """The CUSUM level (log-likelihood-ratio units) that raises an alert: higher means
    fewer false alarms and later alerts."""
    window: int = Field(20, ge=1)
    """How many recent golden answers an alert's θ̂ is computed on."""

    @model_validator(mode="after")
    def _a_drop(self) -> MonitorConfig:
        if self.theta_bad >= self.theta_good:
            raise ValueError(f"theta_bad ({self.theta_bad:g}) must be below theta_good "
                             f"({self.theta_good:g}): the monitor looks for a drop")
        return self


class QualityConfig(Strict):
    """Golden questions for every annotator (``[quality]``)."""

    control_rate: float = Field(0.05, ge=0, le=1)
    """Golden probes per real item asked: each step, every annotator other than people that is
    asked about n real items is also asked about ⌈control_rate · n⌉ control items it has not
    answered (at least one while any is left for it); 0 turns probes off."""
    min_certainty: float = Field(0.9, ge=0, le=1)
    """Only control items whose certainty is at least this serve as golden questions, to
    annotators in the run and to people in the web app."""
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    """The CUSUM watch over each annotator's golden answers (the four keys below)."""
    weight_by_theta: bool = False
    """Weigh each annotator's vote by its golden-question quality θ̂."""

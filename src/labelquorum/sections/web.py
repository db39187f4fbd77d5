"""The ``[web]`` section: settings of ``labelquorum serve``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Strict


class WebConfig(Strict):
    """Settings of ``labelquorum serve`` (the people's web app)."""

    lease_seconds: float = Field(900.0, gt=0)
    """How long an item stays with the person it was given to before it returns to the queue."""
    gold_rate: float = Field(0.1, ge=0, lt=1)
    """Share of the items given to a person that are golden questions (control gold)."""
    gold_overlap: int | None = Field(None, ge=1)
    """How many people at most are given each golden question; unset: the human
    annotator's ``overlap`` (the largest one), so a golden question is seen by as many
    people as real work is."""
    gold_min_answers: int = Field(10, ge=1)
    """Golden answers needed before a person's accuracy is judged against the threshold."""
    accuracy_threshold: float = Field(0.7, ge=0, le=1)
    """A person whose accuracy on gold is below this (upper bound of its 95 % interval
    included) after ``gold_min_answers`` golden answers is flagged."""
    pause_below_threshold: bool = False
    """Pause flagged people automatically (they get no new items until an admin resumes them)."""
    suggestions: bool = True
    """Show the models' label as a marked suggestion (never a ``simulated`` annotator's); turn
    off to measure anchoring."""
    preselect_suggestion: bool = False
    """Also pre-select the suggested label (pre-mark suggested entities) so that Enter
    accepts it; off by default: the person chooses every label themselves."""
    session_hours: float = Field(12.0, gt=0)
    """How long a login lasts."""
    login_attempts: int = Field(5, ge=1)
    """Failed logins per name and address before each further try waits (1 s, doubling);
    an address gets four times as many over all names. Never a lockout."""
    login_backoff_max: float = Field(900.0, ge=1)
    """The longest wait, in seconds, that failed logins impose before the next try."""
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    """Mark the session cookie Secure: ``auto`` does when the request came over https
    (behind a trusted proxy: when it says ``X-Forwarded-Proto: https``)."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-For``
    and ``X-Forwarded-Proto`` headers are believed; nobody else's are."""
    public_url: str | None = None
    """The address people open the app at (``https://label.example.org``): invite links are
    built from it, never from a request's Host header; unset, only requests to this machine
    can make them."""
    max_body_bytes: int = Field(1_000_000, ge=1024)
    """Largest request body the app reads; bigger ones get 413 before they are read."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        out = []
        for item in value:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. "
                                 "\"127.0.0.1\" or \"10.0.0.0/8\")") from None
            # "10.0.0.1/8" means 10.0.0.0/8: uvicorn reads networks strictly
            out.append(str(network) if "/" in item else item)
        return out

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise ValueError(f"{value!r} is not a base URL; give one like "
                             "\"https://label.example.org\" (http or https, no query)")
        return value.rstrip("/")
    assistant: str | None = None
    """An ``llm`` annotator of ``[annotators]`` that people can ask for a suggested label and
    a rationale on the annotation page (off when unset)."""
    judge: str | None = None
    """An ``llm`` annotator that scores each person's answer 1-5 against ``judge_rubric``
    after it is stored (shown to reviewers, never a label; off when unset)."""
    judge_rubric: str = ""
    """What the judge scores answers against (default: the task's guidelines)."""

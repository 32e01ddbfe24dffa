"""The story format: a world, steps, expectations (YAML, validated with pydantic; an error
names the bad field, with the spelling meant, as scenario files do).

```yaml
name: budget-runs-out
description: the welcome budget covers 20 rewards; the campaign targets 60 customers
world:
  builtin: demo                     # or `file: my-world.yaml` (a scenario file)
  customers: 60                     # the scheduled campaign's size (demo worlds)
  promotions: {PR-WELCOME: {budget: 2000}}   # fields laid over the world's promotions
steps:
  - execute: 48213
  - settle: {quiet: 1, deadline: 60}
expect:
  - campaign: 48213
    approved: {min: 1, max: 20}
    violations: none
  - covered: [validate.budget_exhausted]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.faults import FaultRule
from simulator.scenario import explain

CampaignId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class StoryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class World(StoryModel):
    builtin: Literal["demo"] | None = Field(None, description="a built-in world")
    file: str | None = Field(None, description="a scenario file (relative to the story)")
    customers: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        None, description="the demo world's scheduled campaign size"
    )
    clock: Literal["manual", "realtime"] = "manual"
    start: str | None = Field(
        None, description="where the simulator clock starts (ISO 8601 with a zone)"
    )
    promotions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="promotion id → fields laid over it"
    )
    campaigns: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="campaign id → fields laid over it"
    )

    @model_validator(mode="after")
    def _one_source(self) -> World:
        if (self.builtin is None) == (self.file is None):
            raise ValueError("world: give either builtin or file")
        return self


class Emit(StoryModel):
    campaign: CampaignId
    count: Annotated[int, Field(ge=1, le=10_000)] | None = None
    customers: list[str] | None = Field(None, max_length=10_000)
    context: dict[str, Any] = Field(default_factory=dict)
    rate: Annotated[float, Field(gt=0, le=10_000)] | None = Field(
        None, description="events per second (default: all at once)"
    )

    @model_validator(mode="after")
    def _who(self) -> Emit:
        if (self.count is None) == (self.customers is None):
            raise ValueError("emit: give either count or customers")
        return self


class Rotate(StoryModel):
    secret: str | None = Field(
        None, pattern=r"^whsec_[A-Za-z0-9+/=]{16,}$", description="default: a new random one"
    )
    overlapSeconds: Annotated[int, Field(ge=0, le=86_400)] = 3600


class Settle(StoryModel):
    quiet: Annotated[float, Field(gt=0, le=600)] = 1.0
    deadline: Annotated[float, Field(gt=0, le=3600)] = 60.0


class Step(StoryModel):
    """Exactly one action per step."""

    execute: CampaignId | None = None
    cancel: CampaignId | None = None
    clear: CampaignId | None = None
    emit: Emit | None = None
    advance: Annotated[float, Field(ge=0, le=10 * 365 * 86_400)] | None = Field(
        None, description="seconds on the simulator clock"
    )
    faults: list[FaultRule] | None = Field(None, max_length=100, description="arm these")
    clear_faults: Literal[True] | None = None
    rotate_secret: Rotate | None = None
    resend: CampaignId | None = Field(None, description="re-send its delivered webhooks")
    settle: Settle | None = None
    sleep: Annotated[float, Field(ge=0, le=600)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            names = ", ".join(type(self).model_fields)
            raise ValueError(f"a step is exactly one of {names} (got {chosen or 'none'})")
        return self

    @property
    def action(self) -> str:
        return next(n for n in type(self).model_fields if getattr(self, n) is not None)


class Range(StoryModel):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    def holds(self, value: int) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def __str__(self) -> str:
        if self.min is not None and self.max is not None:
            return f"between {self.min} and {self.max}"
        return f"at least {self.min}" if self.min is not None else f"at most {self.max}"


Count = int | Range


class Expectation(StoryModel):
    """One of: a campaign's audit (`campaign` with counts), `covered` rules, or
    `clearance_met` (the integrator finished before the campaign's ClearanceRequiredBy)."""

    campaign: CampaignId | None = None
    validated: Count | None = None
    approved: Count | None = None
    released: Count | None = None
    redeemed: Count | None = None
    sent: Count | None = None
    refused: dict[str, Count] | None = Field(None, description="approval refusals by reason")
    invalid: dict[str, Count] | None = Field(None, description="validation reasons")
    violations: Literal["none"] | list[str] | None = Field(
        None, description="`none`, or the only violation codes allowed"
    )
    covered: list[str] | None = Field(None, description="rules (globs) that must be covered")
    clearance_met: CampaignId | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Expectation:
        kinds = [
            self.campaign is not None,
            self.covered is not None,
            self.clearance_met is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError("an expectation has exactly one of campaign, covered, clearance_met")
        return self


class Story(StoryModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    description: str = ""
    world: World
    steps: list[Step] = Field(min_length=1, max_length=200)
    expect: list[Expectation] = Field(min_length=1, max_length=100)


class StoryError(Exception):
    """A story file that cannot be read or is not a valid story: the message names the
    file and the field."""


def parse_story(text: str, *, source: str = "story") -> Story:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise StoryError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise StoryError(f"{source}: a story is a mapping (name, world, steps, expect)")
    try:
        return Story.model_validate(data)
    except ValidationError as error:
        problems = explain(error, Story)
        where, first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoryError(f"{source}: {where}: {first}{more}") from None


def load_story(path: str | Path) -> tuple[Story, Path]:
    """A story file and the folder its relative paths start from."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise StoryError(f"{path}: cannot read: {error.strerror or error}") from None
    return parse_story(text, source=path.name), path.parent

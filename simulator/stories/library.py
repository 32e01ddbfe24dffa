"""The shipped stories (package data, `simulator/stories/library/*.yaml`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from simulator.stories.model import Story, StoryError, parse_story


def names() -> list[str]:
    folder = resources.files("simulator.stories").joinpath("library")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def builtin(name: str) -> tuple[Story, Path]:
    """A shipped story by name; its world files are beside it."""
    if name not in names():
        raise StoryError(f"no shipped story {name!r} (optisim story list)")
    folder = resources.files("simulator.stories").joinpath("library")
    text = folder.joinpath(f"{name}.yaml").read_text("utf-8")
    return parse_story(text, source=f"{name}.yaml"), Path(str(folder))

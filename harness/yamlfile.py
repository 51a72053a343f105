"""Reading the YAML files users hand us (configs, suites, nodes files, system files), bounded.

A file is read only up to `MAX_BYTES`; aliases (`*name`) are refused, since a few hundred bytes of
nested aliases expand to gigabytes (the "billion laughs"); every error is one line naming the
file, the line where YAML saw it, and at most a short prefix of what was there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raft_jepsen.harness.errors import UsageError

MAX_BYTES = 1 << 20  # a config is a page; a megabyte is far more than any needs


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or (str(e).splitlines() or ["?"])[0]
        raise UsageError(f"{where}{line}: not valid YAML ({short(problem)})") from None
    except RecursionError:
        raise UsageError(f"{where}: nested too deeply") from None
    except ValueError as e:  # an integer of thousands of digits (int()'s limit), a bad date
        raise UsageError(f"{where}: not valid YAML ({short(str(e))})") from None


def load_yaml(path: str | Path, what: str = "a YAML file") -> dict:
    """The mapping at the top of `path` ({} for an empty file). `what` names the kind of file in
    the error for anything else."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not {what}") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{path}: larger than {MAX_BYTES >> 20} MB: not {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping, got {type(data).__name__}: not {what}")
    return data


def short(value: Any, limit: int = 60) -> str:
    """`value`'s repr, cut to `limit` characters: error messages quote, never echo, bad input."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

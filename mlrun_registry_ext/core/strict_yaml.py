"""YAML read strictly: ``yaml.safe_load`` refusing aliases (the "billion laughs" bomb), nesting deeper
than :data:`MAX_YAML_DEPTH` and duplicate keys (silently last-wins otherwise)."""

from __future__ import annotations

import functools
from typing import Any

from mlrun_registry_ext.errors import ConfigError, quote

#: The deepest YAML nesting accepted (a service is four levels deep).
MAX_YAML_DEPTH = 16


def load_yaml(text: str, field: str) -> Any:
    """``yaml.safe_load`` without aliases, duplicate keys or deep nesting; errors name ``field``."""
    import yaml

    loader = None
    try:
        loader = _strict_loader()(text)  # the reader already refuses control characters here
        return loader.get_single_data()
    except _YamlRefused as exc:
        raise ConfigError(field, str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(field, f"not readable YAML{where} ({type(exc).__name__})") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # ValueError: e.g. an integer of thousands of digits; TypeError: an unhashable mapping key
        raise ConfigError(field, f"not readable YAML ({type(exc).__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()


class _YamlRefused(Exception):
    """A YAML construct the config file may not use (alias, duplicate key, deep nesting)."""


@functools.cache
def _strict_loader() -> Any:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases, duplicate keys and nesting deeper than MAX_YAML_DEPTH."""

        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise _YamlRefused(f"YAML aliases (*name) are not allowed (line {mark.line + 1})")
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _YamlRefused(f"nested deeper than {MAX_YAML_DEPTH} levels (line {mark.line + 1})")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise _YamlRefused(f"a mapping key is not a plain value (line {key_node.start_mark.line + 1})")\
                        from None
                if duplicate:
                    raise _YamlRefused(f"duplicate key {quote(key)} (line {key_node.start_mark.line + 1}); each key "
                                       "may appear once")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def dump_yaml(*documents: Any) -> str:
    """YAML text of ``documents`` (``---`` before each when there are several), keys in insertion order.

    The one dumper of everything the package prints as YAML: a SafeDumper that never writes anchors and
    aliases (``&id001`` / ``*id001``). PyYAML writes them whenever one object appears twice (the same
    labels dict in a Job's metadata and its pod template); kubectl reads them, but a reader, a diff or a
    tool that refuses aliases (as :func:`load_yaml` does) does not.
    """
    import yaml

    return yaml.dump_all(documents, Dumper=_plain_dumper(), sort_keys=False, explicit_start=len(documents) > 1)


@functools.cache
def _plain_dumper() -> Any:
    import yaml

    class PlainDumper(yaml.SafeDumper):
        """SafeDumper that writes a repeated object out in full instead of as an alias."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    return PlainDumper

"""The rich console the commands print with (cli/common.py makes it when first used)."""

from __future__ import annotations

import os

from rich.console import Console, ConsoleDimensions

# How wide tables may grow when the output is a file or a pipe, where nothing wraps them.
PIPED_WIDTH = 160


class PipeFriendlyConsole(Console):
    """A console that wraps lines at the terminal's width, and not at all when the output is a
    file or a pipe: a script or a log reading it then gets each message on one line."""

    @property
    def soft_wrap(self) -> bool:  # type: ignore[override]
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, _value: bool) -> None:
        pass  # decided at each print: tests and scripts swap sys.stdout after import

    @property
    def size(self) -> ConsoleDimensions:
        """A file or a pipe is as wide as a table needs, up to PIPED_WIDTH (not rich's 80)."""
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal or "COLUMNS" in os.environ:
            return size
        return ConsoleDimensions(max(size.width, PIPED_WIDTH), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

"""The ``modcore`` command: the parser and one module per subcommand."""

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)

"""dsnworker: a bounce (delivery status notification) processor.

The library API (semantic versioning: these names, `Outcome.to_dict()` and its keys, are public):

    import dsnworker
    for outcome in dsnworker.analyse(open("bounce.eml", "rb").read()):
        print(outcome.to_dict())

Imported lazily: `import dsnworker` loads nothing else, so the command line starts fast.
"""

__version__ = "0.1.0"
__all__ = ["DsnworkerError", "Outcome", "__version__", "analyse"]

TYPE_CHECKING = False  # as typing's, which type checkers read, without importing typing (2 ms)
if TYPE_CHECKING:
    from dsnworker.api import analyse
    from dsnworker.errors import DsnworkerError
    from dsnworker.model import Outcome

_LAZY = {"analyse": "dsnworker.api", "Outcome": "dsnworker.model", "DsnworkerError": "dsnworker.errors"}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'dsnworker' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})

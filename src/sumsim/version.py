"""sumsim's version (kept with the project's metadata in ``pyproject.toml``): a module of its
own, so that what records it (sweep rows, search folders, the command) needs nothing else."""

__version__ = "0.2.0"


def made_by(version: object) -> str:
    """Who made something a folder recorded ``version`` for, in a few words (records made
    before versions were recorded hold none: an earlier sumsim)."""
    return f"sumsim {version}" if isinstance(version, str) else "an earlier sumsim"

"""What `dsnworker parse` loads to start (bench/startup.py measures what that costs): modules a run
does not use are not imported, and the rule packs come from the cache without YAML. Each run is a
process of its own, so that what an earlier test imported does not count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_cli import EXAMPLES, MAILDIR, QUOTED, USER_UNKNOWN

ROOT = Path(__file__).resolve().parents[1]

# a plain bounce needs none of these: the worker's, the report's, YAML (the packs come from the
# cache), flanker (plain addresses are checked without it), VERP, logging (nothing goes wrong),
# html (no HTML part), tempfile (nothing written but standard output), hashlib (OpenSSL: the
# cache key is hashed with the built-in BLAKE2)
NOT_FOR_A_PLAIN_PARSE = (
    "dsnworker.worker",
    "dsnworker.sinks",
    "dsnworker.report.summary",
    "dsnworker.identify",
    "dsnworker.verp",
    "yaml",
    "flanker",
    "imapclient",
    "apscheduler",
    "urllib3",
    "prometheus_client",
    "psycopg",
    "psycopg_pool",
    "logging",
    "html",
    "tempfile",
    "hashlib",
    "_hashlib",
)


def _modules_after(code: str) -> set[str]:
    """The modules imported once `code` has run in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )  # the tests' rule pack cache folder (conftest) is inherited through the environment
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.splitlines()[-1]))


def _parse(*args: str | Path) -> str:
    return f"import dsnworker.cli\ndsnworker.cli.main({[str(a) for a in args]!r})"


def _is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_importing_the_command_line_loads_no_command_s_work() -> None:
    modules = _modules_after("import dsnworker.cli")
    assert [m for m in modules if any(_is_under(m, p) for p in NOT_FOR_A_PLAIN_PARSE)] == []
    assert [m for m in modules if _is_under(m, "dsnworker.parse") or _is_under(m, "dsnworker.classify")] == []


def test_parse_of_a_plain_bounce_loads_only_what_it_uses() -> None:
    _modules_after(_parse("parse", USER_UNKNOWN))  # fills the rule pack cache, if no test did yet
    modules = _modules_after(_parse("parse", USER_UNKNOWN))
    assert [m for m in modules if any(_is_under(m, p) for p in NOT_FOR_A_PLAIN_PARSE)] == []
    assert "dsnworker.classify.engine" in modules  # it did parse and classify


def test_what_a_run_needs_is_still_loaded_when_it_needs_it() -> None:
    # a quoted local part needs flanker; --verp needs the VERP modules; a cold cache needs YAML
    modules = _modules_after(
        "import os\nos.environ['DSNWORKER_CACHE_DIR'] = ''\n"
        + _parse("parse", "--verp", "bounces+{local}={domain}@sender.example", QUOTED)
    )
    assert {"flanker.addresslib.address", "dsnworker.identify", "dsnworker.verp", "yaml"} <= modules


def test_parse_prints_the_same_lines_with_the_rule_pack_cache_and_without(tmp_path: Path) -> None:
    def parse(cache: str) -> str:
        env_code = f"import os\nos.environ['DSNWORKER_CACHE_DIR'] = {cache!r}\n"
        script = env_code + _parse("parse", EXAMPLES / "maildir")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    cache = tmp_path / "cache"
    without = parse("")
    parse(str(cache))  # loads the packs from YAML and stores them
    assert len(list(cache.glob("packs-*.pickle"))) == 1
    assert parse(str(cache)) == without
    assert len(without.splitlines()) >= len(list(MAILDIR.iterdir())) > 0


def test_a_worker_on_a_sqlite_state_never_imports_psycopg(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    config = tmp_path / "config.toml"
    config.write_text('state = "state.sqlite"\n[[mailbox]]\nname = "m"\nsource = "maildir:Maildir"\n')
    modules = _modules_after(f"import dsnworker.cli\nassert dsnworker.cli.main(['poll', '-c', {str(config)!r}]) == 0")
    assert "dsnworker.worker.runner" in modules  # the worker did run
    assert [m for m in modules if _is_under(m, "psycopg") or _is_under(m, "psycopg_pool")] == []

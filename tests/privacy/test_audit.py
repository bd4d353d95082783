"""``make audit``: pip-audit's findings are reported, an audit that could not run says so.

pip-audit's own JSON formatter makes the payloads (run in pip-audit's venv), so the parser
reads the shape pip-audit really writes. The service pip-audit queries is not reachable from
every machine; a dead proxy makes it unreachable here on purpose, through pip-audit's real
client path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.privacy import audit
from bot.settings import ROOT

MAKE_PAYLOAD = r"""
import json, sys
from packaging.version import Version
from pip_audit._format.json import JsonFormat
from pip_audit._service.interface import ResolvedDependency, SkippedDependency, VulnerabilityResult
vuln = VulnerabilityResult(id="PYSEC-2024-0001", description="Request smuggling",
    fix_versions=[Version("3.10.11")], aliases={"CVE-2024-0001"}, published=None)
result = {
    ResolvedDependency(name="aiohttp", version=Version("3.9.5")): [vuln],
    ResolvedDependency(name="pyyaml", version=Version("6.0.3")): [],
    SkippedDependency(name="absl-py", skip_reason="Dependency not found on PyPI and could not be audited: absl-py (1.4.0)"): [],
}
if sys.argv[1] == "skipped":
    result = {d: v for d, v in result.items() if isinstance(d, SkippedDependency)}
print(JsonFormat(output_desc=True, output_aliases=True).format(result, []))
"""


@pytest.fixture(scope="module")
def pip_audit() -> Path:
    exe = audit.ensure_pip_audit()
    if exe is None:
        pytest.skip("pip-audit could not be installed (no package index)")
    return exe


def payload(pip_audit: Path, kind: str) -> dict:
    python = pip_audit.parent / "python"
    done = subprocess.run([str(python), "-c", MAKE_PAYLOAD, kind], capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    return json.loads(done.stdout)


def test_findings_are_listed_with_their_fix(pip_audit: Path) -> None:
    report = audit.parse(payload(pip_audit, "all"))
    assert (report.checked, report.unchecked, len(report.findings)) == (2, 1, 1)
    text = audit.render(report)
    assert text.startswith("pip-audit: 1 known vulnerabilities in 1 of 2 audited packages")
    assert "reported, not failed on" in text and "1 packages could not be audited" in text
    assert "aiohttp 3.9.5: PYSEC-2024-0001 (CVE-2024-0001); fixed in 3.10.11" in text


def test_nothing_checked_is_not_called_clean(pip_audit: Path) -> None:
    report = audit.parse(payload(pip_audit, "skipped"))
    assert not report.reached_service
    text = audit.render(report)
    assert "NOTHING WAS AUDITED" in text and "no known vulnerabilities" not in text


def test_a_clean_audit_says_so() -> None:
    report = audit.parse({"dependencies": [{"name": "pyyaml", "version": "6.0.3", "vulns": []}],
                          "fixes": []})  # fmt: skip
    assert audit.render(report) == "pip-audit: no known vulnerabilities in 1 audited packages"


def run_make_audit(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.privacy.audit", *args], cwd=ROOT,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_an_unreachable_service_is_reported_and_does_not_fail(pip_audit: Path) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens: pip-audit's HTTP client cannot connect
    done = run_make_audit(HTTPS_PROXY=dead, https_proxy=dead, NO_PROXY="", no_proxy="")
    assert done.returncode == 0, done.stderr
    assert "auditing" in done.stdout and "NOTHING WAS AUDITED" in done.stdout
    assert "Traceback" not in done.stdout
    strict = run_make_audit("--strict", HTTPS_PROXY=dead, https_proxy=dead, NO_PROXY="",
                            no_proxy="")  # fmt: skip
    assert strict.returncode == 3

"""Known vulnerabilities in the installed dependencies: ``pip-audit``, reported, never failing.

``python -m bot.privacy.audit`` (``make audit``, part of ``make test``):

1. pip-audit runs from its own virtualenv (build/audit-venv, version ``PIP_AUDIT``): no release
   of pip-audit installs next to Rasa 3.6, which pins ``packaging`` 20.9 (every pip-audit
   needs >= 21) and ``CacheControl`` < 0.13 (pip-audit >= 2.6 needs >= 0.13).
2. It audits exactly what the project's venv holds (``pip freeze``, no resolving, no pip run).
3. The findings are printed: package, version, advisory, fixed versions. Many of Rasa 3.6's
   pinned dependencies have advisories that cannot be fixed without leaving Rasa 3.6, so
   findings are reported, not failed on.
4. When pip-audit cannot be installed or its vulnerability service cannot be reached (this
   machine may reach the package index but not PyPI's per-version JSON API or OSV), it says so
   plainly instead of printing pip-audit's "No known vulnerabilities found" for packages it
   never checked. Exit code 0 in every case, unless ``--strict`` is given: then findings
   give 1 and an audit that could not run gives 3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import ROOT

PIP_AUDIT = "pip-audit==2.10.1"
AUDIT_VENV = ROOT / "build" / "audit-venv"
RUN_SECONDS = 900
# pip-audit's skip reason when its service has no answer for a package version
NOT_FOUND = "not found on PyPI"


@dataclass
class Finding:
    name: str
    version: str
    advisory: str
    aliases: list[str]
    fixed_in: list[str]


@dataclass
class Report:
    checked: int = 0
    unchecked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def reached_service(self) -> bool:
        return self.checked > 0


def parse(payload: dict[str, Any]) -> Report:
    """pip-audit's JSON output (``-f json``) as a report."""
    report = Report()
    for dep in payload.get("dependencies", []):
        if "skip_reason" in dep:
            report.unchecked += 1
            continue
        report.checked += 1
        for vuln in dep.get("vulns", []):
            report.findings.append(
                Finding(
                    name=dep.get("name", "?"), version=dep.get("version", "?"),
                    advisory=vuln.get("id", "?"), aliases=list(vuln.get("aliases", [])),
                    fixed_in=list(vuln.get("fix_versions", [])),
                )
            )  # fmt: skip
    return report


def render(report: Report) -> str:
    lines: list[str] = []
    total = report.checked + report.unchecked
    if not report.reached_service:
        return (
            f"pip-audit: the vulnerability service did not answer for any of the {total} "
            "packages (no access to it from this machine?): NOTHING WAS AUDITED. Run "
            "`make audit` where PyPI's JSON API is reachable."
        )
    for f in sorted(report.findings, key=lambda f: (f.name.lower(), f.advisory)):
        aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
        fixed = ", ".join(f.fixed_in) or "no fixed version"
        lines.append(f"  {f.name} {f.version}: {f.advisory}{aliases}; fixed in {fixed}")
    packages = len({f.name for f in report.findings})
    head = (
        f"pip-audit: {len(report.findings)} known vulnerabilities in {packages} of "
        f"{report.checked} audited packages (reported, not failed on)"
        if report.findings
        else f"pip-audit: no known vulnerabilities in {report.checked} audited packages"
    )
    if report.unchecked:
        head += f"; {report.unchecked} packages could not be audited"
    return "\n".join([head, *lines])


def ensure_pip_audit(venv: Path = AUDIT_VENV) -> Path | None:
    """pip-audit's executable in its own venv, installed when missing; None if it cannot be."""
    exe = venv / "bin" / "pip-audit"
    wanted = PIP_AUDIT.split("==")[1]
    if exe.exists():
        done = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.split()[-1:] == [wanted]:
            return exe
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                           capture_output=True, timeout=300)  # fmt: skip
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", PIP_AUDIT],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return None
    return exe if exe.exists() else None


def frozen_requirements(path: Path) -> int:
    """The project venv's exact versions (editable installs left out); how many."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = [ln for ln in done.stdout.splitlines() if ln and "==" in ln and " @ " not in ln]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def run_audit(exe: Path, requirements: Path, output: Path, env: dict[str, str] | None = None
              ) -> tuple[Report | None, str]:  # fmt: skip
    """pip-audit on the frozen requirements; (report, None) or (None, why it did not run)."""
    output.unlink(missing_ok=True)
    try:
        done = subprocess.run(
            [str(exe), "-r", str(requirements), "--no-deps", "--disable-pip", "-f", "json",
             "-o", str(output), "--progress-spinner", "off"],
            capture_output=True, text=True, timeout=RUN_SECONDS, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, f"pip-audit did not finish in {RUN_SECONDS} s"
    if done.returncode not in (0, 1) or not output.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return None, f"pip-audit could not run (exit {done.returncode}): {last}"
    try:
        return parse(json.loads(output.read_text(encoding="utf-8"))), ""
    except (ValueError, AttributeError) as exc:
        return None, f"pip-audit's output could not be read ({type(exc).__name__})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.privacy.audit", description=__doc__)
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on findings and 3 when the audit could not run")  # fmt: skip
    args = parser.parse_args(argv)
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    exe = ensure_pip_audit()
    if exe is None:
        print(f"pip-audit: {PIP_AUDIT} could not be installed (no package index?): "
              "NOTHING WAS AUDITED")  # fmt: skip
        return 3 if args.strict else 0
    requirements = build / "audit-requirements.txt"
    count = frozen_requirements(requirements)
    print(f"pip-audit: auditing {count} installed packages of {sys.prefix}", flush=True)
    report, why = run_audit(exe, requirements, build / "pip-audit.json")
    if report is None:
        print(f"pip-audit: {why}: NOTHING WAS AUDITED")
        return 3 if args.strict else 0
    print(render(report))
    if not args.strict:
        return 0
    if not report.reached_service:
        return 3
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())

"""The real Azure Functions Python worker as a test oracle (scripts/real-worker.sh prepares it)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKER_SHARED = REPO.parent / "shared" / "real-worker"
WORKER_PYTHON = REPO / ".venv-worker" / "bin" / "python"
WORKER_SRC = REPO / ".venv-worker" / "oracle"
REFUSED_PREFIX = "real worker refuses the app: "
ACCEPTED_PREFIX = "real worker indexes "


@dataclass(frozen=True)
class Verdict:
    """What the real worker answered the host's metadata request."""

    accepted: bool
    message: str


def real_worker_verdict(app_dir: Path, values: dict[str, str] | None = None) -> Verdict:
    """Index `app_dir` with the real worker, its settings' Values exported as the host would."""
    if not (WORKER_PYTHON.is_file() and (WORKER_SRC / "azure_functions_worker").is_dir()):
        raise RuntimeError("the real worker is not prepared: run scripts/setup.sh")
    settings = app_dir / ".oracle.settings.json"
    settings.write_text(json.dumps({"Values": values or {}}), encoding="utf-8")
    try:
        result = subprocess.run(
            [str(WORKER_PYTHON), str(WORKER_SHARED / "index.py"), str(WORKER_SRC), str(app_dir)]
            + [str(settings)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        settings.unlink()
    verdict = next(
        (
            line
            for line in reversed(result.stdout.splitlines())
            if line.startswith((REFUSED_PREFIX, ACCEPTED_PREFIX))
        ),
        None,
    )
    if verdict is None:
        raise RuntimeError(f"the real worker gave no verdict: {result.stderr[-2000:]}")
    if verdict.startswith(REFUSED_PREFIX):
        return Verdict(False, verdict.removeprefix(REFUSED_PREFIX))
    return Verdict(True, verdict.removeprefix(ACCEPTED_PREFIX))

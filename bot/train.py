"""Train the model when its inputs changed, and only then.

The fingerprint covers everything training reads: config, domain, training data and the code
of the custom NLU components. An unchanged model is not retrained (a second run takes
well under a second, without importing Rasa).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.settings import ROOT

MODEL_NAME = "assistant"
MODELS = ROOT / "models"


def training_inputs() -> list[Path]:
    files = [ROOT / "config.yml", ROOT / "domain.yml", ROOT / "build" / "spacy_sv" / "meta.json"]
    files += sorted((ROOT / "data").rglob("*.yml"))
    files += sorted((ROOT / "bot" / "nlu").glob("*.py"))
    return files


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in training_inputs():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def model_path() -> Path:
    return MODELS / f"{MODEL_NAME}.tar.gz"


def up_to_date() -> bool:
    stamp = MODELS / f"{MODEL_NAME}.fingerprint"
    return model_path().exists() and stamp.exists() and stamp.read_text().strip() == fingerprint()


def train(force: bool = False) -> int:
    if not force and up_to_date():
        print(f"Model up to date: {model_path().relative_to(ROOT)}")
        return 0
    MODELS.mkdir(exist_ok=True)
    wanted = fingerprint()
    started = time.monotonic()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [
        str(Path(sys.executable).parent / "rasa"), "train",
        "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
        "--out", str(MODELS), "--fixed-model-name", MODEL_NAME, "--force",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0 or not model_path().exists():
        print("Training failed", file=sys.stderr)
        return result.returncode or 1
    (MODELS / f"{MODEL_NAME}.fingerprint").write_text(wanted + "\n")
    print(f"Trained {model_path().relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(train(force="--force" in sys.argv))

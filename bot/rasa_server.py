"""`rasa run` with the HTTP API's JWT secret taken from the environment.

Rasa 3.6 reads the secret only from its command line, where every local user sees it in the
process list (`ps`, /proc/<pid>/cmdline). This entry point puts it into Rasa's own argument
list inside the process: ``python -m bot.rasa_server <rasa run options>`` with
``RASA_JWT_SECRET`` set. The ``--jwt-secret=value`` form also keeps a secret that starts with
"-" from being read as an option.

It also loads DIET for answering only (bot/inference_load.py) and computes its intent scores
without a TensorFlow call per message (bot/nlu/fast_diet.py), takes a message sent again
only once (bot/message_ids.py), restores the deadline reminders Rasa keeps only in memory (bot/reminders.py), and
keeps TensorFlow from importing jax, which nothing here uses (skip_unused_imports).
"""

from __future__ import annotations

import os
import sys


def skip_unused_imports() -> None:
    """TensorFlow 2.12 imports jax at its own import, only for TFLite's jax converter, which
    Rasa never uses; tensorflow/lite/python/util.py catches the ImportError. Without it the
    server holds about 100 MB less (measured: `import tensorflow` 572 -> 470 MB resident)."""
    sys.modules.setdefault("jax", None)  # type: ignore[arg-type]


# Read only when a process starts (glibc, OpenBLAS): set, then the process is started again.
# MALLOC_ARENA_MAX: two malloc arenas instead of one per thread (TensorFlow's, Sanic's), about
# 80 MB less resident memory for the same work (make bench). OPENBLAS_NUM_THREADS: OpenBLAS
# (numpy's, scipy's) keeps a worker thread per core spinning after every product, however
# small; the intent scores (bot/nlu/fast_diet.py) are a few tiny products per message, and the
# spinning thread took most of the second core (measured: 88 % of a core at 20 users).
# TensorFlow has its own threads.
START_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"}


def start_again_with_environment(module: str) -> None:
    """``python -m module <same arguments>`` again, once, with START_ENVIRONMENT set (values
    already in the environment are kept)."""
    if all(name in os.environ for name in START_ENVIRONMENT):
        return
    for name, value in START_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])


def hide_sql_parameters() -> None:
    """Rasa's SQL tracker store creates its engine without ``hide_parameters``: a database
    error's text (logged by Rasa and re-raised to the channels) then quotes the statement's
    values, the event JSON with what the person wrote. Every engine Rasa creates hides them."""
    import rasa.core.tracker_store as tracker_store

    original = tracker_store.create_engine_kwargs
    if getattr(original, "_hides_parameters", False):
        return

    def create_engine_kwargs(url: object) -> dict:
        return {**original(url), "hide_parameters": True}

    create_engine_kwargs._hides_parameters = True  # type: ignore[attr-defined]
    tracker_store.create_engine_kwargs = create_engine_kwargs


def main() -> None:
    start_again_with_environment("bot.rasa_server")
    secret = os.environ.get("RASA_JWT_SECRET")
    if not secret:
        sys.exit("RASA_JWT_SECRET is not set")
    sys.argv = ["rasa", "run", *sys.argv[1:], f"--jwt-secret={secret}", "--jwt-method=HS256"]
    skip_unused_imports()
    from rasa.__main__ import main as rasa_main

    hide_sql_parameters()  # no message text in a database error's log line

    from bot.rasa_speed import install

    install()  # see bot/rasa_speed.py: the action response schema is checked once, not per call
    from bot import inference_load

    inference_load.install()  # see bot/inference_load.py: DIET loaded without a training step
    from bot.nlu import fast_diet

    fast_diet.install()  # see bot/nlu/fast_diet.py: DIET's intent scores without a TF call
    from bot.nlu import sentence_features

    # see bot/nlu/sentence_features.py: token features that would be discarded, not computed
    sentence_features.install()
    from bot import message_ids

    message_ids.install()  # see bot/message_ids.py: a message sent again is taken once
    from bot import deletion

    deletion.install()  # see bot/deletion.py: "delete my data" after the turn, then "deleted"
    from bot import fair_queue

    fair_queue.install()  # see bot/fair_queue.py: first come, first served, a few at a time
    from bot import abuse

    abuse.install()  # see bot/abuse.py: handoffs per client address capped
    from bot import reminders

    # see bot/reminders.py: deadline reminders restored from the database after the server
    # started, sent once, timed on bot/clock.py
    reminders.install()
    from bot import memory

    memory.install()  # see bot/memory.py: freed memory goes back to the system
    rasa_main()


if __name__ == "__main__":
    main()

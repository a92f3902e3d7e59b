"""Serve a GGUF with llama.cpp's own server (xllamacpp) on 127.0.0.1, until SIGTERM or Ctrl+C.

    python -m core.backends.llamacpp_server MODEL.gguf PORT [--name NAME] [--parallel N] [--threads N]

What the tests and ``bench/backends.py`` start as "a llama.cpp server", and a quick way to try ``--base-url``
by hand. Loopback only; llama.cpp's log is off.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.backends.llamacpp_server")
    p.add_argument("gguf")
    p.add_argument("port", type=int)
    p.add_argument("--name", default="smollm2-135m-instruct", help="the served model's name")
    p.add_argument("--parallel", type=int, default=2, help="slots (requests computed together)")
    p.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    )
    p.add_argument("--context", type=int, default=4096, help="tokens, shared by the slots")
    ns = p.parse_args(argv)
    try:
        import xllamacpp as xlc
    except ImportError:
        print("llama.cpp is an optional extra: pip install -e '.[llamacpp]'", file=sys.stderr)
        return 2
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # received by sigwait below
    params = xlc.CommonParams()
    params.model.path = ns.gguf
    params.model_alias = {ns.name}  # a set of names: a plain string would be taken letter by letter
    params.n_ctx = ns.context
    params.n_parallel = ns.parallel
    params.cpuparams.n_threads = ns.threads
    params.cpuparams_batch.n_threads = ns.threads
    params.hostnames = ["127.0.0.1"]
    params.port = ns.port
    params.verbosity = -1
    server = xlc.Server(params)
    print(f"serving {ns.name} at {server.listening_address}/v1", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())

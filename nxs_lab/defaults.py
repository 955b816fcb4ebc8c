"""Every default the kit uses, in one place, each with the reason it has that value.

Modules import these names instead of repeating the numbers, so a default changes here or nowhere.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_PORTS",
    "DEMO_MODEL_MARK",
    "DEMO_MODEL_NOTE",
    "DISCOVERY_CONNECT_TIMEOUT",
    "DISCOVERY_ENDPOINT_TIMEOUT",
    "DISCOVERY_MAX_PROBES",
    "EMBEDDED_N_CTX",
    "EMBEDDED_OMP_WAIT_POLICY",
    "LMSTUDIO_LOAD_CTX",
    "LOCAL_BASE_URL",
    "MAX_CALLS_PER_TURN",
    "MAX_RESPONSE_BYTES",
    "OLLAMA_NUM_CTX",
    "POOL_WAIT",
    "PROBE_MAX_BYTES",
    "PROVENANCE_SECONDS",
    "SERVER_PORTS",
    "SERVE_PORT",
    "TOOL_TIMEOUT",
]

# The port each server kind listens on out of the box (their own documentation's defaults).
# llama.cpp's llama-server moved from 8080 to 9931 in newer builds; vLLM and llama-cpp-python share 8000;
# 4000 is a LiteLLM proxy (LiteLLM's default, and where `nxs-lab gateway` listens).
SERVER_PORTS: dict[str, tuple[int, ...]] = {
    "lmstudio": (1234,),
    "ollama": (11434,),
    "llama.cpp": (8080, 9931),
    "llama-cpp-python": (8000,),
    "vllm": (8000,),
    "litellm": (4000,),
}
# What discovery scans when no ports are given: every kind's port, once, in the order above.
DEFAULT_PORTS: tuple[int, ...] = tuple(dict.fromkeys(p for ports in SERVER_PORTS.values() for p in ports))

# Where `nxs-lab serve` listens unless told: llama-cpp-python's own default port (the embedded server is one), which
# discovery scans, so `nxs-lab discover` on the same machine finds it and names it llama-cpp-python.
SERVE_PORT = SERVER_PORTS["llama-cpp-python"][0]

# Where a Provider points when nothing is said: LM Studio's default address, the most common local server.
LOCAL_BASE_URL = "http://127.0.0.1:1234/v1"

# A connect on loopback or a LAN is answered (accepted or refused) within milliseconds; 0.3 s leaves room for a
# busy Wi-Fi hop while a /24 scan of silent (filtered) hosts still ends in about a second.
DISCOVERY_CONNECT_TIMEOUT = 0.3

# Reading one open port's server kind and models takes a handful of small requests (an Ollama with thirty models:
# about thirty); 10 s covers that on a slow LAN, and a device that drips or stalls costs the scan no more.
DISCOVERY_ENDPOINT_TIMEOUT = 10.0

# Addresses × ports one scan may probe: a /22 at the six default ports is ~6,000; 16,384 leaves room for a few
# extra ports and stops a typo (a /16, a port range) from becoming a flood on a shared network.
DISCOVERY_MAX_PROBES = 16_384

# A tool is a local Python function or an MCP call: 30 s covers a slow web or database lookup, and a tool that
# takes longer is more likely stuck than working; the model gets a "timed out" tool message and can go on.
TOOL_TIMEOUT = 30.0

# Tool calls one model turn may make: real tasks ask for a handful; a model stuck in a loop can ask for hundreds,
# and each call is a thread and maybe a side effect. The calls over the limit are answered "not run".
MAX_CALLS_PER_TURN = 16

# The embedded SmolLM2 model was trained with 8192 tokens; 2048 keeps its KV cache at ~45 MB (a 4 GB laptop can
# spare it) while holding a few turns of chat and the tool-calling prompts.
EMBEDDED_N_CTX = 2048

# The bundled model (SmolLM2-135M-Instruct, in the embedded server or any server given its GGUF file) is there to
# show the kit working, not to answer well: a model whose id holds the mark says so wherever it answers.
DEMO_MODEL_MARK = "smollm2-135m"
DEMO_MODEL_NOTE = (
    "a 135M demonstration model, often wrong: for real answers, point the kit at your server (nxs-lab init)"
)

# How llama.cpp's OpenMP threads wait for each other in the embedded server. Spinning (libgomp's default, or any
# spin count) is fastest on an idle machine and collapses beside one busy process: on 2 cores a 48-token answer
# stalled past 60 s, and even 1,000 spins kept only a third of the speed. Passive waiting kept 71-78 % (33-37 t/s
# beside a busy core, 45-49 quiet) and never stalled (benchmarks/embedded.py). A notebook always has company: the
# kernel, JupyterLab and a browser. Set OMP_WAIT_POLICY or GOMP_SPINCOUNT yourself to choose otherwise.
EMBEDDED_OMP_WAIT_POLICY = "PASSIVE"

# The largest reply a provider call accepts. 64 MiB holds an embeddings batch of ~1,000 texts at 4,096 dimensions
# written as JSON floats, or any chat answer many times over; a hostile or broken server cannot fill the memory.
MAX_RESPONSE_BYTES = 64 * 2**20

# The largest reply a discovery probe reads. A model list of a few hundred models is ~100 KB; 4 MiB is ample and a
# /24 scan that meets a hostile device still stays small.
PROBE_MAX_BYTES = 4 * 2**20

# The window Ollama runs a model with when nothing asks for another (docs/context-length: 4k below 24 GiB of VRAM,
# which is every machine this kit targets; older releases used 2048 and say so in /api/ps once loaded). A model that
# is not loaded is budgeted against this, never against the length it was trained with: Ollama cuts a longer prompt
# silently. Set ProviderConfig.context_window for a server started with OLLAMA_CONTEXT_LENGTH, or num_ctx to ask.
OLLAMA_NUM_CTX = 4096

# The context length LM Studio loads a model with when a request arrives for one that is not loaded and the user set
# no other for it (its load settings' default). Such a model is budgeted against this, capped at its maximum.
LMSTUDIO_LOAD_CTX = 4096

# Calls nx.evaluate keeps in flight: one. A local server answers one request at a time (llama-cpp-python, LM Studio,
# llama-server with one slot), so a second call would wait in its queue and the latency measured would be the
# queue's; a stock llama-cpp-python server even cuts the running stream when another request arrives.
EVALUATE_CONCURRENCY = 1

# The quality tolerance QuantReport.recommend picks the smallest variant within, against its reference: mean KL
# divergence at most 0.05 and the same top token at least 90 % of the time. llama.cpp's published KL tables for 7-8B
# models put Q4_K_M at about 0.03 and 92-95 %, Q3_K_M past it (about 0.1, under 90 %), Q5_K_M and up well inside:
# the size/quality trade most guides recommend. Small models lose more per bit, so fewer variants pass for them.
QUANT_MAX_KL = 0.05
QUANT_MIN_SAME_TOP = 0.90

# Gigabytes are 10^9 bytes and megabytes 10^6, everywhere in the kit (as file sizes are shown).
MB = 1e6

# Seconds a call may wait for a free connection in the kit's own pool (100 per sync provider, 64 per async one):
# that is queueing behind the caller's own other calls, not a slow server, so it has its own bound, longer than a
# short first-byte limit, and running out of it (ClientBusy) never counts against the server's breaker.
POOL_WAIT = 30.0
# How long reading what a server is (its kind's probes, its model list) may take after its first answer, for the
# answer's provenance: it just answered, so a few seconds are plenty; past them, the provenance says less.
PROVENANCE_SECONDS = 3.0

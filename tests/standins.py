"""Stand-ins for each server kind: real loopback servers answering the kind's native endpoints with the
response shapes its documentation gives. Used by the discovery tests and benchmark.

Sources: LM Studio's docs (lmstudio-ai/docs, 1_developer/2_rest: list.md for ``/api/v1/models``, endpoints.md for
``/api/v0/models``); Ollama's docs/api.md (``/api/tags``, ``/api/show``, ``/api/ps`` with ``context_length``) and
docs/context-length.mdx (the 4k default); llama.cpp's tools/server/README.md (``/props``, ``/tokenize``,
``/apply-template``); vLLM's OpenAI-compatible server docs (``max_model_len``, ``/tokenize``, ``reasoning_content``).
Chat replies (reasoning fields, inline ``<think>``, Ollama's ``fp_ollama`` fingerprint) come from the fault kit's
``reasoning=`` and ``fingerprint=`` options."""

from __future__ import annotations

from typing import Any

# LM Studio 0.3.x (v0 API only). Listed first: a text model that is not loaded; then the loaded model is a
# vision-language one (Gemma 3): detection must pick the loaded VLM, never make LM Studio load a second model.
LMSTUDIO: dict[str, Any] = {
    "/api/v0/models": {
        "object": "list",
        "data": [
            {
                "id": "qwen2.5-7b-instruct",
                "object": "model",
                "type": "llm",
                "publisher": "lmstudio-community",
                "arch": "qwen2",
                "compatibility_type": "gguf",
                "quantization": "Q4_K_M",
                "state": "not-loaded",
                "max_context_length": 32768,
            },
            {
                "id": "gemma-3-4b-it",
                "object": "model",
                "type": "vlm",
                "publisher": "lmstudio-community",
                "arch": "gemma3",
                "compatibility_type": "gguf",
                "quantization": "Q4_K_M",
                "state": "loaded",
                "max_context_length": 131072,
                "loaded_context_length": 8192,
            },
            {
                "id": "text-embedding-nomic-embed-text-v1.5",
                "object": "model",
                "type": "embeddings",
                "publisher": "nomic-ai",
                "arch": "nomic-bert",
                "compatibility_type": "gguf",
                "quantization": "Q4_K_M",
                "state": "not-loaded",
                "max_context_length": 2048,
            },
        ],
    },
    "/v1/models": {
        "object": "list",
        "data": [
            {"id": "qwen2.5-7b-instruct", "object": "model", "owned_by": "organization_owner"},
            {"id": "gemma-3-4b-it", "object": "model", "owned_by": "organization_owner"},
            {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "owned_by": "organization_owner"},
        ],
    },
}

# LM Studio 0.4+ (the v1 REST API beside v0): the same situation in v1's shapes.
LMSTUDIO_V1: dict[str, Any] = {
    "/api/v1/models": {
        "models": [
            {
                "type": "llm",
                "publisher": "qwen",
                "key": "qwen/qwen3-8b",
                "display_name": "Qwen3 8B",
                "architecture": "qwen3",
                "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
                "size_bytes": 5027783488,
                "params_string": "8B",
                "loaded_instances": [],
                "max_context_length": 40960,
                "format": "gguf",
                "capabilities": {"vision": False, "trained_for_tool_use": True},
                "description": None,
            },
            {
                "type": "llm",
                "publisher": "google",
                "key": "google/gemma-3-4b",
                "display_name": "Gemma 3 4B",
                "architecture": "gemma3",
                "quantization": {"name": "Q4_0", "bits_per_weight": 4},
                "size_bytes": 3154899360,
                "params_string": "4B",
                "loaded_instances": [{"id": "google/gemma-3-4b", "config": {"context_length": 8192}}],
                "max_context_length": 131072,
                "format": "gguf",
                "capabilities": {"vision": True, "trained_for_tool_use": False},
                "description": None,
            },
            {
                "type": "embedding",
                "publisher": "nomic-ai",
                "key": "text-embedding-nomic-embed-text-v1.5",
                "display_name": "Nomic Embed Text v1.5",
                "quantization": {"name": "F16", "bits_per_weight": 16},
                "size_bytes": 274290560,
                "params_string": None,
                "loaded_instances": [],
                "max_context_length": 2048,
                "format": "gguf",
            },
        ]
    },
    "/api/v0/models": LMSTUDIO["/api/v0/models"],
    "/v1/models": {
        "object": "list",
        "data": [
            {"id": "qwen/qwen3-8b", "object": "model", "owned_by": "organization_owner"},
            {"id": "google/gemma-3-4b", "object": "model", "owned_by": "organization_owner"},
            {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "owned_by": "organization_owner"},
        ],
    },
}

OLLAMA: dict[str, Any] = {
    "/api/version": {"version": "0.12.6"},
    "/api/tags": {
        "models": [
            {
                "name": "llama3.2:3b",
                "model": "llama3.2:3b",
                "modified_at": "2026-10-01T10:00:00Z",
                "size": 2019393189,
                "digest": "a80c4f17acd5",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
            },
            {
                "name": "qwen3:4b",
                "model": "qwen3:4b",
                "modified_at": "2026-10-02T10:00:00Z",
                "size": 2497293918,
                "digest": "e55aed6fe643",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "qwen3",
                    "families": ["qwen3"],
                    "parameter_size": "4.0B",
                    "quantization_level": "Q4_K_M",
                },
            },
        ]
    },
    "/api/show": {
        "modelfile": "FROM llama3.2:3b",
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
        "capabilities": ["completion", "tools"],
    },
    "/api/ps": {
        "models": [
            {
                "name": "llama3.2:3b",
                "model": "llama3.2:3b",
                "size": 3500000000,
                "digest": "a80c4f17acd5",
                "details": {"family": "llama", "quantization_level": "Q4_K_M"},
                "expires_at": "2026-11-25T12:00:00Z",
                "size_vram": 0,
                "context_length": 8192,
            },
        ]
    },
    "/v1/models": {
        "object": "list",
        "data": [
            {"id": "llama3.2:3b", "object": "model", "owned_by": "library"},
            {"id": "qwen3:4b", "object": "model", "owned_by": "library"},
        ],
    },
}

LLAMACPP: dict[str, Any] = {
    "/props": {
        "default_generation_settings": {"n_ctx": 4096, "temperature": 0.8},
        "total_slots": 1,
        "model_path": "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf",
        "build_info": "b6500-5cdb27e",
        "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    },
    "/health": {"status": "ok"},
    "/v1/models": {
        "object": "list",
        "data": [
            {
                "id": "qwen2.5-0.5b-instruct-q4_k_m.gguf",
                "object": "model",
                "owned_by": "llamacpp",
                "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx_train": 32768, "n_params": 494032768},
            }
        ],
    },
    "/tokenize": {"tokens": [9707, 1879, 0]},
}

VLLM: dict[str, Any] = {
    "/v1/models": {
        "object": "list",
        "data": [
            {
                "id": "Qwen/Qwen2.5-7B-Instruct",
                "object": "model",
                "created": 0,
                "owned_by": "vllm",
                "root": "Qwen/Qwen2.5-7B-Instruct",
                "parent": None,
                "max_model_len": 32768,
            }
        ],
    },
    "/version": {"version": "0.11.0"},
    "/tokenize": {"count": 3, "max_model_len": 32768, "tokens": [9707, 1879, 0]},
}

NEEDS_AUTH: dict[str, Any] = {
    "/v1/models": (401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}),
}

# LM Studio's native chat (endpoints.md, ``POST /api/v0/chat/completions``): an OpenAI chat completion plus the
# server's own ``stats``, which its OpenAI-compatible ``/v1/chat/completions`` leaves out.
LMSTUDIO_NATIVE_CHAT: dict[str, Any] = {
    "id": "chatcmpl-i3gkjwthhw96whukek9tz",
    "object": "chat.completion",
    "created": 1731990317,
    "model": "gemma-3-4b-it",
    "choices": [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Paris."},
        }
    ],
    "usage": {"prompt_tokens": 24, "completion_tokens": 3, "total_tokens": 27},
    "stats": {
        "tokens_per_second": 51.43709529007664,
        "time_to_first_token": 0.111,
        "generation_time": 0.954,
        "stop_reason": "eosFound",
    },
    "model_info": {"arch": "gemma3", "quant": "Q4_K_M", "format": "gguf", "context_length": 8192},
    "runtime": {"name": "llama.cpp-linux-x86_64-avx2", "version": "1.3.0", "supported_formats": ["gguf"]},
}

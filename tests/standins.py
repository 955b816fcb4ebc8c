"""Stand-ins for each server kind: real loopback servers answering the kind's native endpoints with the
response shapes its documentation gives. Used by the discovery tests and benchmark."""

from __future__ import annotations

from typing import Any

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
                "state": "loaded",
                "max_context_length": 32768,
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
                "context_length": 4096,
            },
        ]
    },
    "/v1/models": {"object": "list", "data": [{"id": "llama3.2:3b", "object": "model", "owned_by": "library"}]},
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

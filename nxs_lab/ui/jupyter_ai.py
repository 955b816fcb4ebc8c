"""The kit's providers in jupyter-ai (its 2.x model-provider registry, which ``%%ai`` and its chat use): provider
``nxs``, models ``chain`` (every configured provider in priority order, with the kit's failover and context budgets)
and each configured provider by name. Registered through jupyter-ai's documented entry point
(``jupyter_ai.model_providers`` in pyproject.toml); installed with the ``jupyter-ai`` extra.

    %load_ext jupyter_ai_magics
    %%ai nxs:chain
    Why is the sky blue?
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from jupyter_ai_magics import BaseProvider
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk
from langchain_core.outputs import ChatResult as LCChatResult

from ..resilience.targets import configured

__all__ = ["NxsChatModel", "NxsProvider"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def _messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text()} for m in messages]


class NxsChatModel(BaseChatModel):
    """A LangChain chat model answering through the kit's configured chain (or one provider of it)."""

    model_id: str = "chain"
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "nxs_lab"

    def _params(self, stop: list[str] | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if stop:
            params["stop"] = stop
        if self.max_tokens:
            params["max_tokens"] = self.max_tokens
        return params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> LCChatResult:  # fmt: skip
        result = configured.target(self.model_id, "jupyter-ai").chat(_messages(messages), **self._params(stop))
        meta = {"provider": result.provider, "model": result.model, "attempts": [a.as_row() for a in result.attempts]}
        return LCChatResult(
            generations=[ChatGeneration(message=AIMessage(content=result.text, response_metadata=meta))]
        )

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:  # fmt: skip
        stream = configured.target(self.model_id, "jupyter-ai").stream(_messages(messages), **self._params(stop))
        for text in stream:
            yield ChatGenerationChunk(message=AIMessageChunk(content=text))


class NxsProvider(BaseProvider, NxsChatModel):
    """jupyter-ai's view of the kit (its class attributes are jupyter-ai's ``BaseProvider`` class variables)."""

    id = "nxs"
    name = "nxs_lab"  # type: ignore[misc]  # jupyter-ai's class-level name, over LangChain's field
    models = ["*"]  # noqa: RUF012 - jupyter-ai declares it a ClassVar. A registry: the models are the user's configured providers (and "chain"), named freely
    model_id_key = "model_id"
    model_id_label = "chain, or a configured provider"
    pypi_package_deps: ClassVar[list[str]] = []
    registry = True
    help = "'chain' asks every configured provider in priority order; a provider's name asks it alone"

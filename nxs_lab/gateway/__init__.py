"""A team gateway on an existing engine: the kit's configuration exported to a LiteLLM proxy (``export``), and that
proxy started and watched (``proxy``), for many clients at one OpenAI-compatible URL."""

from .export import ALIAS, MASTER_KEY_ENV, litellm_config, to_yaml

__all__ = ["ALIAS", "MASTER_KEY_ENV", "litellm_config", "to_yaml"]

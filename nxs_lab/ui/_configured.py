"""The providers the user configured (nxs_lab.userconfig), as one fallback chain per process, and the target a name
picks from it: ``chain`` (every provider in priority order) or one provider, whose breaker is the chain's own.
Shared by the magics and the jupyter-ai provider, so a dead provider found by one is skipped by the other."""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigError

__all__ = ["CHAIN", "Configured", "configured"]

CHAIN = "chain"


class Configured:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chain: Any = None
        self.settings: Any = None

    def chain(self, where: str = "nxs_lab") -> Any:
        """The configured providers as one chain, made on first use and kept for the process's life."""
        with self._lock:
            if self._chain is None:
                from ..resilience.fallback import FallbackChain
                from ..userconfig import Settings, how_to_configure

                settings = Settings.find()
                if not settings.config.providers:
                    raise ConfigError(where, [("providers", f"none is configured: {how_to_configure()}")])
                self.settings = settings
                self._chain = FallbackChain.from_config(settings.config, fit=True)
            return self._chain

    def names(self) -> list[str]:
        return [CHAIN, *(p.name for p in self.chain().providers)]

    def target(self, name: str | None, where: str = "nxs_lab") -> Any:
        """The chain, or the configured provider ``name`` as a chain of one that shares its breaker."""
        chain = self.chain(where)
        if name in (None, CHAIN):
            return chain
        from ..resilience.fallback import FallbackChain

        for p in chain.providers:
            if p.name.lower() == name.lower():
                return FallbackChain([p], breaker=lambda n: chain.breakers[n], fit=True)
        known = ", ".join(self.names())
        raise ConfigError(where, [(name, f"is not a configured provider nor {CHAIN!r} ({known})")])

    def reset(self) -> None:
        """Forget the chain (closing it), so the next use reads the settings again."""
        with self._lock:
            if self._chain is not None:
                self._chain.close()
            self._chain, self.settings = None, None


configured = Configured()

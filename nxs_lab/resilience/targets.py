"""What a choice picks: the whole fallback chain, or one provider of it behind the chain's own breaker.

    >>> t = Targets.of([local, kimi], fit=True)                      # doctest: +SKIP
    >>> t.pick(CHAIN).chat(messages)                                 # doctest: +SKIP
    >>> t.pick("local").chat(messages)   # a chain of one: local's breaker is the chain's   # doctest: +SKIP

The panels, the magics, jupyter-ai and the command line all pick through this, so a provider that failed for
one is skipped by the others, and every pick is a :class:`~nxs_lab.FallbackChain` (the same result, attempts,
request log and failover shell, one provider or many). :data:`CHAIN` is a sentinel, so no provider's name can be
mistaken for it; typed interfaces spell it :data:`~nxs_lab.config.CHAIN_NAME` (``"chain"``), which the settings
refuse as a provider's name. :func:`configured_targets` is the one resolution of "the providers the user
configured", used by all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, Final

from ..config import CHAIN_NAME, norm_name
from ..discovery.which import resolved
from ..errors import ConfigError
from ..userconfig import Settings
from .fallback import FallbackChain
from .requestlog import RequestLog

__all__ = ["CHAIN", "ChainChoice", "Configured", "Targets", "configured", "configured_targets"]


class ChainChoice:
    """The type of :data:`CHAIN`: "every provider, in priority order", a value no provider name can equal."""

    _instance: ChainChoice | None = None

    def __new__(cls) -> ChainChoice:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "CHAIN"

    def __str__(self) -> str:
        return CHAIN_NAME

    def __reduce__(self) -> str:
        return "CHAIN"  # pickles as the module's one instance


CHAIN: Final = ChainChoice()

Choice = ChainChoice | str | None


class Targets:
    """A chain and what each choice picks from it (see the module's docstring)."""

    def __init__(self, chain: FallbackChain) -> None:
        self.chain = chain
        self._ones: dict[str, FallbackChain] = {}

    @classmethod
    def of(cls, providers: Any, **chain_options: Any) -> Targets:
        """Targets over a :class:`~nxs_lab.FallbackChain` as it is, or over providers (one or several) in a new
        chain made with ``chain_options`` (``log``, ``fit``, …)."""
        if isinstance(providers, FallbackChain):
            return cls(providers)
        if hasattr(providers, "stream") and hasattr(providers, "name"):
            providers = [providers]
        return cls(FallbackChain(list(providers), **chain_options))

    @property
    def providers(self) -> Sequence[Any]:
        return self.chain.providers

    def names(self) -> list[str]:
        """The names a typed interface accepts: ``chain`` and each provider's."""
        return [CHAIN_NAME, *(p.name for p in self.providers)]

    def pick(self, choice: Choice = CHAIN, where: str = "nxs_lab") -> FallbackChain:
        """The chain for :data:`CHAIN` (or ``None``, or the word ``chain``), else the provider named ``choice`` as a
        chain of one that shares the chain's breaker, log, policy and fitting."""
        if choice is None or isinstance(choice, ChainChoice) or norm_name(choice) == CHAIN_NAME:
            return self.chain
        for p in self.providers:
            if norm_name(p.name) == norm_name(choice):
                if p.name not in self._ones:
                    self._ones[p.name] = self.chain.with_providers([p])
                return self._ones[p.name]
        known = ", ".join(self.names())
        raise ConfigError(where, [(choice, f"is not a configured provider nor {CHAIN_NAME!r} ({known})")])

    def with_provider(self, provider: Any) -> Targets:
        """These targets with ``provider`` added last (replacing one of the same name); the others keep their
        breakers."""
        kept = [p for p in self.providers if p.name != provider.name]
        return Targets(self.chain.with_providers([*kept, provider]))

    def close(self) -> None:
        self.chain.close()


def configured_targets(
    settings: Settings, names: Iterable[str] | None = None, *, where: str = "nxs_lab", log: RequestLog | None = None
) -> Targets:
    """The providers ``settings`` configure (only ``names`` if given), as :class:`Targets` over one chain that fits
    each request to each provider's window, with the ``[breaker]`` table's breakers. With none configured, the
    servers :func:`~nxs_lab.discovery.which.resolved` finds. Raises :class:`~nxs_lab.errors.ConfigError` naming
    an unknown name, or :class:`~nxs_lab.errors.NoServer` saying what to do when nothing answers."""
    return Targets(FallbackChain.from_config(resolved(settings).chosen(names, where), log=log, fit=True))


class Configured:
    """The configured targets of this process (a kernel), made on first use and kept, so breakers remember a dead
    provider from one cell to the next and across the magics and jupyter-ai."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: Targets | None = None
        self.settings: Settings | None = None
        self._noted = False

    def targets(self, where: str = "nxs_lab") -> Targets:
        with self._lock:
            if self._targets is None:
                settings = resolved(Settings.find())
                self._targets = configured_targets(settings, where=where)
                self.settings = settings
            return self._targets

    def take_note(self) -> str | None:
        """What was found to answer, when nothing was configured (see :mod:`~nxs_lab.resilience.which`), the first
        time it is asked for; ``None`` after that, so it is said once per process."""
        with self._lock:
            note = self.settings.note if self.settings is not None else None
            if note is None or self._noted:
                return None
            self._noted = True
            return note

    def chain(self, where: str = "nxs_lab") -> FallbackChain:
        return self.targets(where).chain

    def target(self, name: Choice, where: str = "nxs_lab") -> FallbackChain:
        return self.targets(where).pick(name, where)

    def names(self) -> list[str]:
        return self.targets().names()

    def reset(self) -> None:
        """Forget the targets (closing their chain), so the next use reads the settings again."""
        with self._lock:
            if self._targets is not None:
                self._targets.close()
            self._targets, self.settings, self._noted = None, None, False


configured = Configured()

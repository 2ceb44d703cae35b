"""Apps by name: the core apps every chain runs, plus the optional ones genesis enables."""

from __future__ import annotations

from collections.abc import Callable

from learnchain.apps.bank import BankApp
from learnchain.apps.base import App
from learnchain.apps.consensus import ConsensusApp
from learnchain.apps.identity import IdentityApp
from learnchain.consensus.base import ConsensusEngine
from learnchain.core.errors import ConfigError


def _collab() -> App:
    from learnchain.apps.collab.app import CollabApp

    return CollabApp()


def _market() -> App:
    from learnchain.apps.market.app import MarketApp

    return MarketApp()


def _crowd() -> App:
    from learnchain.apps.crowd.app import CrowdApp

    return CrowdApp()


def _tasks() -> App:
    from learnchain.apps.tasks.app import TasksApp

    return TasksApp()


def _wallet() -> App:
    from learnchain.apps.wallet.app import WalletApp

    return WalletApp()


OPTIONAL_APPS: dict[str, Callable[[], App]] = {"collab": _collab, "market": _market,
                                               "crowd": _crowd, "wallet": _wallet,
                                               "tasks": _tasks}


def register_optional_app(name: str, factory: Callable[[], App]) -> None:
    OPTIONAL_APPS[name] = factory


def build_apps(extra: list[str], engine: ConsensusEngine) -> dict[str, App]:
    apps: dict[str, App] = {"bank": BankApp(), "identity": IdentityApp(),
                            "consensus": ConsensusApp(engine)}
    for name in extra:
        factory = OPTIONAL_APPS.get(name)
        if factory is None:
            raise ConfigError(f"genesis field 'extra_apps': unknown app {name!r}; "
                              f"available: {', '.join(sorted(OPTIONAL_APPS)) or 'none'}")
        apps[name] = factory()
    return apps

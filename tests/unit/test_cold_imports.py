"""The API function's cold import loads only what its routes need (issue 16's cold start)."""

from __future__ import annotations

import subprocess
import sys

# Loaded on first use instead: source clients, alert rules files,
# webhook deliveries, the Athena driver.
NOT_AT_IMPORT = ("httpx", "tenacity", "yaml", "pyathena")


def test_importing_the_api_handler_loads_no_source_client_yaml_or_athena_driver() -> None:
    probe = (
        "import sys, handlers.api; "
        f"print(','.join(m for m in {NOT_AT_IMPORT!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_settings_still_know_every_registry_source_and_coingecko_default() -> None:
    from nebulastream.settings import Settings
    from nebulastream.sources import registry

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.source_priority == list(registry.REGISTRY)
    assert settings.coingecko_base_url == registry.spec("coingecko").default_base_url
    assert settings.known_coin_ids["BTC"] == "bitcoin"


def test_building_settings_loads_the_registry_but_no_http_client() -> None:
    probe = (
        "import sys; from nebulastream.settings import Settings; Settings(); "
        "print(','.join(m for m in ('httpx', 'tenacity') if m in sys.modules), "
        "'nebulastream.sources.registry' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True"]

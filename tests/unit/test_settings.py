from __future__ import annotations

import pytest
from pydantic import ValidationError

from nebulastream.settings import Settings


def test_defaults_match_the_documented_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEBULA_LAKE_URI", "NEBULA_ENGINE", "NEBULA_COINS", "NEBULA_COINGECKO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.lake_uri == "./.nebula"
    assert settings.engine == "duckdb"
    assert settings.coins == ["BTC", "ETH", "SOL"]
    assert settings.coingecko_base_url == "https://api.coingecko.com/api/v3"
    assert settings.coingecko_api_key is None
    assert settings.coin_map == {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}


def test_coins_are_read_comma_separated_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBULA_COINS", " eth, btc,,ETH ")
    assert Settings().coins == ["ETH", "BTC"]


def test_unknown_symbol_stops_start_up_naming_known_ones_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEBULA_COINS", "BTC,PEPE")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = str(caught.value)
    assert "PEPE" in message
    assert "BTC, DOGE, DOT, ETH" in message
    assert "NEBULA_COIN_IDS" in message


def test_mapping_is_extendable_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBULA_COINS", "BTC,pepe")
    monkeypatch.setenv("NEBULA_COIN_IDS", '{"pepe": "pepe"}')
    assert Settings().coin_map == {"BTC": "bitcoin", "PEPE": "pepe"}


def test_unknown_engine_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBULA_ENGINE", "sqlite")
    with pytest.raises(ValidationError, match="duckdb"):
        Settings()


def test_every_setting_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`NEBULA_{name.upper()}`" not in doc]
    assert missing == []


@pytest.mark.parametrize("seconds", ["420", "3599"])
def test_a_fetch_interval_that_does_not_tile_a_day_is_refused(
    monkeypatch: pytest.MonkeyPatch, seconds: str
) -> None:
    monkeypatch.setenv("NEBULA_FETCH_INTERVAL_SECONDS", seconds)
    with pytest.raises(ValidationError, match="divisor of 86400"):
        Settings()


def test_a_fetch_interval_that_tiles_a_day_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBULA_FETCH_INTERVAL_SECONDS", "900")
    assert Settings().fetch_interval_seconds == 900


def test_coin_ids_that_are_not_json_are_refused_with_an_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEBULA_COIN_IDS", "{PEPE: pepe}")
    with pytest.raises(ValidationError, match=r'is not JSON.*"PEPE": "pepe"'):
        Settings()


def test_empty_coin_ids_mean_no_extra_coins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBULA_COIN_IDS", " ")
    assert Settings().coin_ids == {}


@pytest.mark.parametrize(("given", "kept"), [(" key-123\n", "key-123"), ("", None), (" ", None)])
def test_the_api_key_is_trimmed_and_blank_means_none(
    monkeypatch: pytest.MonkeyPatch, given: str, kept: str | None
) -> None:
    monkeypatch.setenv("NEBULA_COINGECKO_API_KEY", given)
    assert Settings().coingecko_api_key == kept


@pytest.mark.parametrize("given", ["key 123", "ke\ny", "kéy"])
def test_an_api_key_that_cannot_travel_in_a_header_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("NEBULA_COINGECKO_API_KEY", given)
    with pytest.raises(ValidationError) as caught:
        Settings()
    reasons = [e["msg"] for e in caught.value.errors()]
    assert len(reasons) == 1 and "non-ASCII" in reasons[0] and given not in reasons[0]


@pytest.mark.parametrize("given", ["ftp://host/api", "api.coingecko.com/api/v3", "https://"])
def test_a_base_url_that_is_not_http_is_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("NEBULA_COINGECKO_BASE_URL", given)
    with pytest.raises(ValidationError, match="not an http"):
        Settings()


def test_source_priority_is_a_list_of_registry_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().source_priority == ["coingecko", "coinbase", "bitstamp"]
    monkeypatch.setenv("NEBULA_SOURCE_PRIORITY", " Bitstamp, coinbase,,bitstamp ")
    assert Settings().source_priority == ["bitstamp", "coinbase"]


@pytest.mark.parametrize(("value", "says"), [("binance", "known sources"), (" , ", "is empty")])
def test_a_source_priority_naming_no_known_source_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("NEBULA_SOURCE_PRIORITY", value)
    with pytest.raises(ValidationError, match=says):
        Settings()


def test_exchange_base_urls_default_to_the_source_module_and_can_be_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().source_base_url("coinbase") == "https://api.exchange.coinbase.com"
    assert Settings().source_base_url("bitstamp") == "https://www.bitstamp.net/api/v2"
    monkeypatch.setenv("NEBULA_BITSTAMP_BASE_URL", "http://127.0.0.1:8080/api/v2/")
    assert Settings().source_base_url("bitstamp") == "http://127.0.0.1:8080/api/v2"
    monkeypatch.setenv("NEBULA_COINBASE_BASE_URL", "api.exchange.coinbase.com")
    with pytest.raises(ValidationError, match="not an http"):
        Settings()

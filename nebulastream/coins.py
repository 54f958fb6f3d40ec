"""The coins NebulaStream knows (CoinGecko's symbol map), and parsing symbols users give."""

from __future__ import annotations

from collections.abc import Mapping


def default_coin_ids() -> Mapping[str, str]:
    """The one definition of the symbol <-> id mapping is CoinGecko's SYMBOLS, as every
    source module holds its own. Users extend it without code through
    NEBULA_COIN_IDS='{"PEPE": "pepe"}' (any id listed by CoinGecko's /coins/list)."""
    # Imported here: the source module brings httpx and tenacity, which the API's query
    # routes never use.
    from nebulastream.sources.coingecko import SYMBOLS

    return SYMBOLS


# What a user may write for coins (the API's OpenAPI states it): ASCII letters and digits, so
# no look-alike upper-cases into a known symbol (U+017F long s + 'ol' gives 'SOL'); several,
# comma-separated.
SYMBOL = "[A-Za-z0-9]{1,16}"
SYMBOLS_PATTERN = f"^{SYMBOL}(,{SYMBOL})*$"
ONE_SYMBOL_PATTERN = f"^{SYMBOL}$"


class UnknownCoinError(ValueError):
    """A symbol that has no CoinGecko id in the mapping."""

    def __init__(self, unknown: list[str], known: Mapping[str, str]) -> None:
        self.unknown = unknown
        names = ", ".join(unknown)
        super().__init__(
            f"Unknown coin symbol(s): {names}. Known: {', '.join(sorted(known))}. "
            f"To add one, map it to its CoinGecko id, e.g. "
            f'NEBULA_COIN_IDS=\'{{"{unknown[0]}": "<coingecko-id>"}}\' '
            "(ids are listed at https://api.coingecko.com/api/v3/coins/list)."
        )


def parse_symbols(value: str | list[str]) -> list[str]:
    """Split 'btc, ETH,,sol' into ['BTC', 'ETH', 'SOL'], keeping order and dropping repeats."""
    items = value.split(",") if isinstance(value, str) else value
    seen: dict[str, None] = {}
    for item in items:
        symbol = item.strip().upper()
        if symbol:
            seen.setdefault(symbol, None)
    return list(seen)


def resolve(symbols: list[str], coin_ids: Mapping[str, str]) -> dict[str, str]:
    """Map each symbol to its CoinGecko id, or raise UnknownCoinError naming every unknown one."""
    unknown = [s for s in symbols if s not in coin_ids]
    if unknown:
        raise UnknownCoinError(unknown, coin_ids)
    return {s: coin_ids[s] for s in symbols}

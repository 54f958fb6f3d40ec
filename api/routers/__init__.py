"""One router per resource: prices, coins, health."""

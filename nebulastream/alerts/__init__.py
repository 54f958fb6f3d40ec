"""Price alerts: rules as data, edge-triggered evaluation after each fetch, exactly-once state."""

"""Recharging: a contract's usage since a restoration point priced again, exactly (docs/recharging.md)."""

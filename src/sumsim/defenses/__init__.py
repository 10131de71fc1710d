"""Defenses that wrap or run beside the contract's acceptance path."""

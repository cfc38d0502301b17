"""Call functions with the names the peer's test templates use (written for runwright)."""

"""HTTP: the user API (/v1), its client, and (later) the peer protocol (/p2p)."""

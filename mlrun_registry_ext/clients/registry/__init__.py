"""The registry client: transport-level requests, auth challenges, TLS diagnosis, and blob/manifest transfer."""

"""The router: one pure routing core (``core``) driven by two engines (``engines``)."""

"""``--preset tarmac``: host calls answered the way Tarmac answers them (see docs/tarmac.md)."""

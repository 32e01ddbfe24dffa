"""HTTP surfaces: core API, CE v2, Promotions and the simulator's control API."""

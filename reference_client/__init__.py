"""The reference integrator for the Advanced Control Flow (knows the simulator only
through the wire contract; it never imports `simulator`)."""

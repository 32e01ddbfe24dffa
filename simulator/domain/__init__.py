"""Pure rules of the simulated Optimove + Promotions services.

Nothing here does I/O, reads a clock or makes a random id: the caller passes `now` and an
id source, and reads and writes state through the `LedgerState` port (see `state.py`),
which a store implements inside one transaction.
"""

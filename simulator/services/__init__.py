"""One function per operation: open a store transaction, apply the domain rules, save.

Operation names match the wire's operation ids, the reference client's methods and the
locust task names (one vocabulary across layers).
"""

"""optisim: an offline Optimove + Promotions simulator for the Advanced Control Flow."""

__version__ = "0.1.0"

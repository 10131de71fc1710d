"""sumsim: a discrete-event simulator for the economics of Sharing Updatable Models."""

__version__ = "0.1.0"

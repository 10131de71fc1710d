"""Incentive mechanisms.  Each module holds one mechanism, its config and its ``plugin``
(registered through the ``sumsim.mechanisms`` entry-point group)."""

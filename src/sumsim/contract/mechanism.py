"""The interface between the contract and an incentive mechanism, and the mechanism's config.

The contract (``CollaborativeTrainer``) owns the generic flow: ``add_data``, ``refund`` and
``report`` validate, charge gas, then write.  A mechanism decides the money: each ``check_*``
hook validates first (raising :class:`~sumsim.chain.Revert` with a reason) and only returns what
to do; the ``on_*`` hooks record a success.  So a revert leaves nothing behind.

A mechanism also owns what is its own:

- **transactions** beyond the three core ones: methods decorated with :func:`transaction`
  (with their payability); the contract dispatches to them and they charge their own gas;
- **accounts** it needs at genesis (:meth:`IncentiveMechanism.accounts`) and **actors** that
  run beside the agents (:meth:`IncentiveMechanism.actors`, e.g. a bounty provider);
- its **summary** section (:meth:`IncentiveMechanism.summary`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from sumsim.chain.evm_gas import STAKEABLE_WORK, MechanismWork, SstoreKind
from sumsim.config import PluginConfig
from sumsim.contract.data_handler import Contribution

if TYPE_CHECKING:
    import simpy

    from sumsim.world import World

F = TypeVar("F", bound=Callable[..., Any])


class MechanismConfig(PluginConfig):
    """Options every incentive mechanism has (subclasses add their own)."""

    def owner_address(self) -> str | None:
        """The agent owning the contract, when the mechanism lets a wallet own it."""
        return None

    def reserved_addresses(self) -> set[str]:
        """Addresses the mechanism opens itself (agents may not take these names)."""
        return set()


def transaction(*, payable: bool = False) -> Callable[[F], F]:
    """Mark a mechanism method as a contract transaction ``fn(self, contract, ctx, *args)``.

    The method name is the transaction's method name.  ``payable``: whether it accepts ether
    (the value arrives in the contract's balance before the method runs and goes back if it
    reverts)."""

    def mark(fn: F) -> F:
        fn.__sumsim_transaction__ = payable  # type: ignore[attr-defined]
        return fn

    return mark


class IncentiveMechanism(ABC):
    """Base of incentive mechanisms (see the module docstring for the contract)."""

    kind: str = ""
    #: Whether an accepted contribution trains the model at once (not in a market's
    #: participation phase).
    trains_on_add: bool = True
    #: Whether refunds and takes are paid from a contribution's own claimable amount (DRT,
    #: points) or from per-contributor balances the mechanism keeps (prediction market).
    per_contribution: bool = True
    #: What the mechanism's own contract code reads and writes in an add, a refund and a
    #: report, for gas (:class:`~sumsim.chain.evm_gas.MechanismWork`; default: the original
    #: Stakeable64's, which Deposit-Refund-Take is).
    gas_work: MechanismWork = STAKEABLE_WORK

    @classmethod
    @abstractmethod
    def from_config(cls, config: Any) -> IncentiveMechanism:
        """Build the mechanism a scenario's ``[incentive]`` section describes."""

    # -- what the mechanism owns --------------------------------------------------------------
    def transactions(self) -> dict[str, tuple[Callable[..., Any], bool]]:
        """Extra contract methods: name -> (bound method, payable)."""
        out = {}
        for name in dir(type(self)):
            fn = getattr(type(self), name, None)
            payable = getattr(fn, "__sumsim_transaction__", None)
            if payable is not None:
                out[name] = (getattr(self, name), bool(payable))
        return out

    def accounts(self) -> dict[str, int]:
        """Accounts to open at genesis with their balances (wei), e.g. a bounty provider."""
        return {}

    def actors(self, world: World) -> list[Generator[simpy.Event, Any, None]]:
        """SimPy processes that run beside the agents (the run ends when all have ended)."""
        return []

    def summary(self) -> dict[str, Any]:
        """The mechanism's section of summary.json (also its public state)."""
        return {}

    # -- the add / claim flow -------------------------------------------------------------
    def accepting(self, now: float) -> str:
        """"open", "not_yet" or "closed" (for good) to new contributions."""
        return "open"

    def on_stored(self, rec: Contribution) -> None:  # noqa: B027 - optional hook
        """A contribution was stored (after every check passed)."""

    def on_forfeit(self, rec: Contribution, amount: int) -> None:  # noqa: B027 - optional
        """``amount`` wei of ``rec``'s deposit left the contract outside the claim flow (a
        review rejection forfeited it), so the mechanism must no longer count it as held."""

    def held(self) -> int:
        """Wei the mechanism holds outside contribution records (bounties, pooled balances)."""
        return 0

    @abstractmethod
    def required_deposit(self, now: int) -> int:
        """Wei a contribution must carry if included in a block stamped ``now``."""

    @abstractmethod
    def check_add(self, now: int, value: int) -> int:
        """Validate an add paying ``value``; return the deposit kept (the rest is returned)."""

    @abstractmethod
    def on_add(self, now: int) -> None:
        """Record a successful add."""

    @abstractmethod
    def check_refund(self, rec: Contribution, sender: str, now: int, agrees: bool) -> int:
        """Validate a refund; return the amount paid to the author."""

    @abstractmethod
    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None: ...

    @abstractmethod
    def check_report(self, rec: Contribution, reporter: str, now: int, agrees: bool,
                     owner: str) -> int:
        """Validate a report; return the amount the reporter takes."""

    def on_report(self, rec: Contribution, reporter: str, amount: int) -> None:  # noqa: B027
        """Record a successful report (mechanisms that keep score)."""

    def add_write_kinds(self, now: int) -> tuple[SstoreKind, ...] | None:
        """How the mechanism's ``gas_work.add_writes`` storage writes of an add at ``now``
        change their slots (asked before :meth:`on_add`), for gas: ``"set"`` for a zero slot
        made non-zero (a counter's first count), ``"noop"`` for the value it holds already
        (a time written again in the same second), ``"reset"`` for an update.  Default (None):
        every write an update."""
        return None

    def refund_counters_new(self, sender: str) -> int:
        """How many of the two good-data counters a successful refund by ``sender`` sets from
        zero (its own and the total; 0, 1 or 2), for gas: a zero-to-non-zero write costs more
        than an update.  Default: none (both already counted)."""
        return 0

    def takes_without_checks(self, rec: Contribution, reporter: str, now: int,
                             owner: str) -> bool:
        """Whether a report by ``reporter`` at ``now`` is a late take of what is left, skipping
        the early checks (for gas: it reads fewer slots).  Default: from the time anyone may
        take (:meth:`claim_times`)."""
        return now >= self.claim_times(rec)[1]

    def is_open(self, rec: Contribution, now: float) -> bool:
        """Whether anything can still be claimed from ``rec``."""
        return rec.claimable > 0

    @abstractmethod
    def claim_times(self, rec: Contribution) -> tuple[float, float]:
        """(earliest time a claim can succeed, time from which anyone may take what is left;
        ``inf`` when that never comes)."""


class DeployedCounters:
    """The counters the original incentive mechanisms keep in storage, shared by the kinds
    that are deployed contracts (Deposit-Refund-Take's Stakeable64, points' Points64): the
    submission counter, each address's good data and the total.  A zero slot made non-zero
    costs more than an update, so their gas depends on whether each is still zero.  Mix in
    before :class:`IncentiveMechanism` and call :meth:`_init_counters` from ``__init__``."""

    total_submitted: int
    num_valid: dict[str, int]
    total_good: int

    def _init_counters(self) -> None:
        self.total_submitted = 0
        self.num_valid = {}
        self.total_good = 0

    def _count_add(self) -> None:
        self.total_submitted += 1

    def _count_good(self, sender: str) -> None:
        self.num_valid[sender] = self.num_valid.get(sender, 0) + 1
        self.total_good += 1

    def _submission_write(self) -> SstoreKind:
        """How an add's write of the submission counter changes its slot."""
        return "set" if self.total_submitted == 0 else "reset"

    def refund_counters_new(self, sender: str) -> int:
        # num_valid[sender] and total_good: a fresh slot each when still zero.
        return int(self.num_valid.get(sender, 0) == 0) + int(self.total_good == 0)

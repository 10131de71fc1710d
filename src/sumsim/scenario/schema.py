"""The scenario schema: every field, its default and its constraints.

Unknown keys are errors everywhere (``extra="forbid"``).  The ``agents``, ``defenses``,
``model`` and ``incentive`` sections are unions over the registered plug-ins, discriminated by
``kind``, so a plug-in's options are validated (and appear in ``sumsim schema``) exactly like
the built-ins'.  Each plug-in config may check the whole scenario
(:meth:`sumsim.config.PluginConfig.check_scenario`); this module names no concrete kind except
the two defaults.
"""

from __future__ import annotations

import math
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, PrivateAttr, create_model, model_validator

import sumsim.registry as registry
from sumsim.chain.chain import MIN_BLOCK_TIME_S
from sumsim.chain.evm_gas import FORKS, Fork
from sumsim.config import Gwei, PluginConfig, SafeName, Section
from sumsim.errors import FieldError
from sumsim.units import MAX_WEI

#: Default simulated-time cap (one year) and idle window (30 days); see ScenarioSection.
DEFAULT_MAX_DURATION_S = 365 * 86_400.0
DEFAULT_MAX_IDLE_S = 30 * 86_400.0
#: Most accuracy samples (time-series rows) a run may record.
MAX_SAMPLES = 100_000


class ScenarioSection(Section):
    """What the run is called, what it asks, its seed and when it stops."""

    name: SafeName = Field("scenario", description="Name of the run (used for output folder "
                           "names): letters, digits and _ . + = -.")
    description: str = Field("", description="What question the scenario asks.")
    seed: int = Field(1, ge=0, description="Master seed: every random draw derives from it.")
    duration_s: float | None = Field(
        None, gt=0, description="Stop at this simulated time; default: when the pool is "
        "exhausted and every deposit has been settled.")
    max_duration_s: float = Field(
        DEFAULT_MAX_DURATION_S, gt=0, le=1e12, description="Guard: a run that has not ended "
        "by this simulated time is stopped as unable to finish (error, exit code 2); "
        "duration_s may not exceed it.")
    max_idle_s: float = Field(
        DEFAULT_MAX_IDLE_S, gt=0, le=1e12, description="Guard: a run in which no transaction "
        "is sent and no pool sample taken for this long (simulated) is stopped as unable to "
        "make progress (error, exit code 2), e.g. when no agent can afford anything.")

    @model_validator(mode="after")
    def _horizon(self) -> ScenarioSection:
        if self.duration_s is not None and self.duration_s > self.max_duration_s:
            raise FieldError(f"duration_s ({self.duration_s:g} s) is beyond max_duration_s "
                             f"({self.max_duration_s:g} s, the simulated-time guard): raise "
                             "max_duration_s too", "duration_s")
        return self

    @property
    def horizon_s(self) -> float:
        """The latest simulated time a run can reach."""
        return self.duration_s if self.duration_s is not None else self.max_duration_s


#: Entries of the old flat gas schedule, and what replaces them.
_REMOVED_GAS = {
    "sstore_new": "sstore_set (zero to non-zero; the fork preset sets it)",
    "sstore_update": "sstore_reset (non-zero to non-zero)",
    "call_overhead": "nothing: calls are priced structurally by chain.fork",
    "value_transfer": "call_value (the 9,000 of a value-bearing CALL)",
}
_FORK_PRIMITIVES = [f.name for f in dataclass_fields(Fork) if f.name != "name"]


class _GasOverridesBase(Section):
    """Overrides of the fork's primitive EVM costs (gas units); unset entries keep the fork's
    value.  Calls are priced structurally from these (see sumsim.chain.evm_gas)."""

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in _REMOVED_GAS.items():
                if old in data:
                    raise FieldError(f"removed: calls are priced by chain.fork (e.g. fork = "
                                     f"'petersburg' for 2019 costs); override {new}", old)
        return data

    def primitives(self) -> dict[str, int]:
        """The overridden primitives only."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


#: What each primitive prices (the descriptions of the ``[chain.gas]`` fields).
_PRIMITIVE_TEXT = {
    "calldata_nonzero_byte": "A non-zero byte of calldata.",
    "calldata_zero_byte": "A zero byte of calldata.",
    "sload_cold": "First read of a storage slot in a transaction.",
    "sload_warm": "A later read of a slot.",
    "sstore_set": "Writing a zero slot with a non-zero value.",
    "sstore_reset": "Overwriting a non-zero slot (or clearing it).",
    "sstore_noop": "Writing the value a slot already holds.",
    "sstore_dirty": "Writing a slot already written in the transaction.",
    "sstore_cold_surcharge": "Extra for a write that is the slot's first access (EIP-2929).",
    "account_cold": "First touch of an account in a transaction (EXTCODESIZE, CALL).",
    "account_warm": "A later touch of an account.",
    "clear_refund": "Refund for clearing a slot to zero.",
    "refund_quotient": "Refunds are capped at gas used // this.",
    "intrinsic": "Base cost of every transaction.",
    "create": "Contract creation.",
    "code_deposit_byte": "Per byte of deployed code.",
    "call_value": "A CALL that sends ether.",
    "call_stipend": "Gas a value-bearing CALL hands the recipient (returned unused).",
    "keccak": "A KECCAK256 hash.",
    "keccak_word": "Per 32-byte word hashed.",
    "log": "An event log.",
    "log_topic": "Per log topic.",
    "log_byte": "Per byte of log data.",
    "memory_word": "Per word of memory expansion (linear part).",
    "memory_quad_divisor": "Divisor of the quadratic part of memory expansion.",
    "copy_word": "Per word copied (CALLDATACOPY, RETURNDATACOPY, ...).",
}

GasOverrides = create_model(  # type: ignore[call-overload]
    "GasOverrides", __base__=_GasOverridesBase,
    # (at most 10**9 gas each: a transaction's limit stops at 10**12, and gas is summed in
    # float64, exact far beyond that)
    **{name: (int | None, Field(None, ge=1 if name in ("refund_quotient",
                                                        "memory_quad_divisor") else 0,
                                le=10**9,
                                description=_PRIMITIVE_TEXT.get(
                                    name, f"The fork's {name.replace('_', ' ')} cost.")))
       for name in _FORK_PRIMITIVES})

#: Fork presets ``chain.fork`` accepts (sumsim.chain.evm_gas.FORKS).
ForkName = Literal["petersburg", "constantinople", "istanbul", "berlin", "london", "shanghai",
                   "cancun", "prague"]
#: New scenarios run on today's price list: Prague (mainnet since May 2025) prices these calls
#: as London and Cancun do (its calldata floor, EIP-7623, never binds for them).
DEFAULT_FORK: ForkName = "prague"


class BaseFeeSection(Section):
    """A bounded EIP-1559-style base fee driven by block fullness (see sumsim.chain.fees)."""

    min_gwei: Gwei = Field(1, description="Lowest base fee.")
    max_gwei: Gwei = Field(500, description="Highest base fee.")
    target: float = Field(0.5, ge=0.01, le=0.99, description="Fullness at which the fee is "
                          "stable.")
    adjust: float = Field(0.125, gt=0, lt=1, description="Largest relative move per slot.")
    background: float = Field(0.5, ge=0, le=1, description="Mean fullness from other traffic.")
    background_sd: float = Field(0.15, ge=0, le=10, description="Standard deviation of the "
                                 "other traffic's fullness, per slot.")
    shock_sd: float = Field(0.0, ge=0, le=10,
                            description="Extra log-normal shock per sqrt(slot).")

    @model_validator(mode="after")
    def _range(self) -> BaseFeeSection:
        if self.max_gwei < self.min_gwei:
            raise FieldError("must be at least min_gwei", "max_gwei")
        return self


class ChainSection(Section):
    """Blocks, gas and prices of the simulated chain."""

    block_time_s: float = Field(12, ge=MIN_BLOCK_TIME_S, le=1e12, description="Seconds "
                                "between block slots; a block's timestamp is its slot time "
                                "floored to whole seconds.")
    fork: ForkName = Field(DEFAULT_FORK, description="Ethereum fork whose gas prices the "
                           "contract's calls (petersburg: 2019; london..prague: today).")
    block_gas_limit: int = Field(30_000_000, gt=21_000, le=10**12, description="Gas one block "
                                 "may hold (counted by the transactions' gas limits).")
    gas_price_gwei: Gwei = Field(4, description="Gas price (gwei) every agent pays by default.")
    tx_gas_limit: int = Field(10_000_000, gt=21_000, le=10**12,
                              description="Gas limit agents put on a transaction (a "
                              "wallet short of its fee sets a claim's limit to the claim's "
                              "estimated gas plus a quarter).")
    eth_usd: float = Field(373.0, gt=0, le=1e12,
                           description="Ether price, for USD figures only.")
    gas_price_model: Literal["constant", "base_fee"] = Field(
        "constant", description="constant: everyone pays gas_price_gwei; base_fee: an "
        "EIP-1559-style base fee driven by block fullness ([chain.base_fee]).")
    base_fee: BaseFeeSection = Field(default_factory=BaseFeeSection,
                                     description="The base-fee process (with base_fee).")
    eth_usd_volatility: float = Field(0.0, ge=0, le=10, description="Ether price volatility "
                                      "per sqrt(day) (geometric Brownian motion); 0: constant.")
    gas: GasOverrides = Field(default_factory=GasOverrides,  # type: ignore[valid-type]
                              description="Overrides of the fork's primitive costs.")

    @model_validator(mode="after")
    def _limits(self) -> ChainSection:
        if self.tx_gas_limit > self.block_gas_limit:
            raise FieldError("must not exceed block_gas_limit", "tx_gas_limit")
        # (the two prices read directly: every scenario and sweep point is validated here)
        fork, over = FORKS[self.fork], self.gas.primitives()
        stipend = over.get("call_stipend", fork.call_stipend)
        value = over.get("call_value", fork.call_value)
        if stipend > value:
            raise FieldError(f"{stipend} is more than call_value ({value}); the stipend is "
                             "handed over out of what a value-bearing CALL costs", "gas",
                             "call_stipend")
        return self


#: Most word draws the synthetic generator makes ((n_train + n_test) x mean_words): about
#: 1 GB of working memory.
MAX_SYNTHETIC_DRAWS = 20_000_000


class SyntheticParams(Section):
    """The synthetic "sentiment-like" text dataset (sumsim.data.synthetic): Zipfian words,
    a share of them carrying a polarity, binary word presence."""

    n_train: int = Field(4000, ge=10, le=10_000_000, description="Training documents (the "
                         "initial set plus the pool).")
    n_test: int = Field(2000, ge=1, le=10_000_000, description="Test documents.")
    n_features: int = Field(1000, ge=2, le=1_000_000, description="Vocabulary size "
                            "(features).")
    zipf_exponent: float = Field(1.05, gt=0, le=100, description="Exponent of the words' "
                                 "Zipfian frequencies.")
    mean_words: float = Field(60.0, gt=0, le=100_000, description="Mean document length "
                              "(Poisson), in word draws.")
    sentiment_share: float = Field(0.2, ge=0, le=1, description="Share of the words that "
                                   "carry a polarity.")
    separability: float = Field(0.7, ge=0, le=100, description="How strongly polarity tilts a "
                                "class's word choice (0: the classes are indistinguishable).")
    ambiguous_share: float = Field(0.1, ge=0, le=1, description="Share of documents drawn "
                                   "half from each class, with a coin-flip label.")
    label_noise: float = Field(0.03, ge=0, le=1, description="Share of further labels "
                               "flipped.")
    seed: int | None = Field(None, ge=0, description="Data seed; default: the scenario seed.")

    @model_validator(mode="after")
    def _memory(self) -> SyntheticParams:
        draws = (self.n_train + self.n_test) * self.mean_words
        if draws > MAX_SYNTHETIC_DRAWS:
            raise FieldError(f"(n_train + n_test) x mean_words = {draws:.3g} word draws; at "
                             f"most {MAX_SYNTHETIC_DRAWS:,} fit in memory", "n_train")
        return self


class DataSection(Section):
    """The dataset and how it is split into the initial training set, the pool and the test
    set."""

    dataset: Literal["synthetic", "imdb", "csv", "parquet"] = Field(
        "synthetic", description="synthetic (generated, offline), imdb (the IMDB reviews "
        "archive), or a csv/parquet table at path.")
    path: str | None = Field(None, description="Archive/folder (imdb) or file (csv/parquet). "
                             "For imdb, SUMSIM_IMDB or --data-path override it.")
    num_words: int = Field(1000, ge=2, le=1_000_000,
                           description="Vocabulary size for text features.")
    init_train_fraction: float = Field(0.08, ge=0, lt=1, description="Share of the training "
                                       "data the deployed model is trained on off-chain; the "
                                       "rest is the pool agents contribute from.")
    shuffle: bool = Field(True, description="Shuffle the training data (seeded) before "
                          "splitting it into initial set and pool.")
    max_pool: int | None = Field(None, ge=1, description="Cap the contribution pool size.")
    max_test: int | None = Field(None, ge=1, description="Cap the test set size.")
    label_column: str = Field("label", description="csv/parquet: the column holding the "
                              "class.")
    text_column: str | None = Field(None, description="csv/parquet: a text column, featurized "
                                    "as binary word presence.")
    feature_columns: list[str] | None = Field(None, description="csv/parquet: numeric feature "
                                              "columns; default (without text_column): every "
                                              "other column.")
    text_features: Literal["top_n", "hashed"] = Field(
        "top_n", description="Text features: the num_words most frequent training words, or "
        "num_words hashed buckets.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="csv/parquet: share of the "
                                 "(shuffled) rows kept as the test set.")
    synthetic: SyntheticParams = Field(default_factory=SyntheticParams,
                                       description="The synthetic dataset's parameters.")

    @model_validator(mode="after")
    def _path(self) -> DataSection:
        if self.dataset in ("csv", "parquet") and not self.path:
            raise FieldError(f"dataset {self.dataset!r} needs a path", "path")
        if self.dataset == "synthetic" and self.path:
            raise FieldError("the 'synthetic' dataset reads no file; drop data.path or set "
                             "data.dataset", "path")
        if self.text_column is not None and self.feature_columns is not None:
            raise FieldError("give either text_column or feature_columns, not both",
                             "feature_columns")
        return self


class MetricsSection(Section):
    """What is measured and drawn."""

    eval_every_s: float = Field(200_000, ge=1, description="Test accuracy sampling period "
                                "(at most 100,000 samples up to the run's horizon).")
    baseline: bool = Field(True, description="Fit the all-data baseline model.")
    counterfactual: bool = Field(False, description="Also run the same seed with the "
                                 "attackers removed, to measure accuracy damage.")
    figure: bool = Field(True, description="Draw figure.png.")


class ScenarioBase(Section):
    """The sections every scenario has.  :func:`scenario_model` adds the plug-in unions."""

    #: The folder relative paths in the scenario (``data.path``) are read from.
    _base_dir: Path | None = PrivateAttr(None)

    #: Replaced in `scenario_model` by unions over the registered plug-ins.
    agents: list[Any] = Field(default_factory=list)
    defenses: list[Any] = Field(default_factory=list)
    scenario: ScenarioSection = Field(default_factory=ScenarioSection)
    chain: ChainSection = Field(default_factory=ChainSection)
    data: DataSection = Field(default_factory=DataSection)
    model: Any = None
    incentive: Any = None
    metrics: MetricsSection = Field(default_factory=MetricsSection)

    @model_validator(mode="after")
    def _samples(self) -> ScenarioBase:
        horizon = self.scenario.horizon_s
        every = self.metrics.eval_every_s
        if horizon / every > MAX_SAMPLES:
            which = "duration_s" if self.scenario.duration_s is not None else "max_duration_s"
            raise FieldError(
                f"{every!r} s would record up to {math.ceil(horizon / every):,} accuracy samples "
                f"by scenario.{which} ({horizon:g} s); at most {MAX_SAMPLES:,}: use at least "
                f"{horizon / MAX_SAMPLES!r} s or a shorter scenario.{which}",
                "metrics", "eval_every_s")
        return self

    @model_validator(mode="after")
    def _supply(self) -> ScenarioBase:
        """All the money at genesis (every balance a run opens) must fit the results columns:
        contract balances and totals are sums of it."""
        agents: list[Any] = getattr(self, "agents", [])
        total = sum(a.balance for a in agents)
        if isinstance(self.incentive, PluginConfig):
            impl = registry.get("mechanisms", self.incentive.kind).impl
            total += sum(impl.from_config(self.incentive).accounts().values())
        if total > MAX_WEI:
            raise FieldError(f"the money at genesis ({total} wei: every agent's balance and "
                             f"the mechanism's accounts) exceeds {MAX_WEI} wei (10**38 - 1, "
                             "what a Decimal(38, 0) results column holds)", "agents")
        return self

    @model_validator(mode="after")
    def _starts(self) -> ScenarioBase:
        """An agent whose first turn comes after the latest time the run can reach would
        never act (a typo, or a unit mistake: milliseconds for seconds)."""
        horizon = self.scenario.horizon_s
        which = "duration_s" if self.scenario.duration_s is not None else "max_duration_s"
        for i, a in enumerate(getattr(self, "agents", [])):
            start = getattr(a, "start_s", 0)
            if isinstance(start, int | float) and start >= horizon:
                raise FieldError(f"the first turn ({start:.6g} s) is not before the end of "
                                 f"the run (scenario.{which}, {horizon:.6g} s): the agent "
                                 "would never act", "agents", i, "start_s")
        return self

    @model_validator(mode="after")
    def _names(self) -> ScenarioBase:
        agents: list[Any] = getattr(self, "agents", [])
        names = [a.name for a in agents]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            first = next(i for i, n in enumerate(names) if n in dup and names.index(n) != i)
            raise FieldError("agent names must be unique; repeated: "
                             + ", ".join(repr(n) for n in sorted(dup)),
                             "agents", first, "name")
        owner: dict[str, int] = {}
        for i, a in enumerate(agents):
            for address in a.address_names():
                j = owner.setdefault(address, i)
                if j != i:
                    raise FieldError(
                        f"address {address!r} would be both agents[{j}] ({agents[j].name!r}) "
                        f"and agents[{i}] ({a.name!r}): a strategy spread over several "
                        "wallets names them after itself (name-0, name-1, ...)", "agents", i,
                        "name")
        reserved = set(RESERVED_ADDRESSES)
        if self.incentive is not None:
            reserved |= self.incentive.reserved_addresses()
        clash = reserved & set(owner)
        if clash:
            first = min(owner[n] for n in clash)
            raise FieldError(f"agent names {sorted(clash)} are reserved", "agents", first,
                             "name")
        self._defense_names()
        sections: list[tuple[Any, tuple[str | int, ...]]] = [
            (self.model, ("model",)), (self.incentive, ("incentive",))]
        sections += [(a, ("agents", i)) for i, a in enumerate(agents)]
        sections += [(d, ("defenses", i)) for i, d in enumerate(getattr(self, "defenses", []))]
        for section, at in sections:
            if isinstance(section, PluginConfig):
                section.check_scenario(self, at)
        return self

    def _defense_names(self) -> None:
        """Each defense has an entry of its own in summary.json, under its name (default: its
        kind), beside the defenses' ``total_cost_wei``: two under one name, or one named like
        that total, would lose a defense's figures."""
        seen: dict[str, tuple[int, bool]] = {}  # name -> (first defense so called, named)
        for i, d in enumerate(getattr(self, "defenses", [])):
            given = getattr(d, "name", None)
            name = given or getattr(d, "kind", None)
            if not isinstance(name, str):
                continue
            if name in RESERVED_DEFENSE_NAMES:
                raise FieldError(f"{name!r} names the defenses' total in summary.json; give "
                                 "this defense another name", "defenses", i, "name")
            j, named = seen.setdefault(name, (i, given is not None))
            if j != i:
                why = "names must be unique" if named or given is not None else \
                    "two unnamed defenses of one kind"
                raise FieldError(f"defenses[{j}] and defenses[{i}] are both called {name!r} "
                                 f"({why}): each defense's figures are reported under its "
                                 "name in summary.json; set name = \"...\" on one of them",
                                 "defenses", i, "name")


#: Names a defense may not take (keys of the summary's defenses section).
RESERVED_DEFENSE_NAMES = ("total_cost_wei",)

#: Addresses the engine opens itself.
RESERVED_ADDRESSES = ("owner", "fee_sink", "contract")
#: The kind used when a section leaves ``kind`` out (or is absent).
DEFAULT_KINDS = {"models": "perceptron", "mechanisms": "deposit_refund_take"}


def _union(group: str) -> Any:
    """A union over the registered configs of ``group``, discriminated by ``kind`` (filled in
    with the group's default kind when a section leaves it out)."""
    table = registry.plugins(group)
    configs = tuple(p.config for _, p in sorted(table.items()))
    if not configs:
        return dict[str, Any]
    union: Any = configs[0] if len(configs) == 1 else Annotated[
        Union[configs], Field(discriminator="kind")]  # noqa: UP007
    default = DEFAULT_KINDS.get(group)
    if default is None:
        return union

    def fill_kind(value: Any) -> Any:
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": default, **value}
        return value

    return Annotated[union, BeforeValidator(fill_kind)]


def all_kinds() -> set[str]:
    """Every registered kind, of every group (for reading validation error paths)."""
    return {k for g in registry.GROUPS for k in registry.plugins(g)}


@lru_cache(maxsize=4)
def _scenario_model(version: int) -> type[ScenarioBase]:
    agent = _union("agents")
    defense = _union("defenses")
    model = _union("models")
    incentive = _union("mechanisms")

    def default(group: str) -> Any:
        return lambda: registry.get(group, DEFAULT_KINDS[group]).config()

    return create_model(  # type: ignore[call-overload,no-any-return]
        "Scenario",
        __base__=ScenarioBase,
        __doc__="A validated scenario: every section, every plug-in's options.",
        agents=(list[agent], Field(min_length=1)),  # type: ignore[valid-type]
        defenses=(list[defense], Field(default_factory=list)),  # type: ignore[valid-type]
        model=(model, Field(default_factory=default("models"))),
        incentive=(incentive, Field(default_factory=default("mechanisms"))),
    )


def scenario_model() -> type[ScenarioBase]:
    """The full Scenario model, with unions over every registered plug-in."""
    registry.load()
    return _scenario_model(registry.version)

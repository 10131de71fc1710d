"""The scenario schema: every field, its default and its constraints.

Unknown keys are errors everywhere (``extra="forbid"``).  The ``agents`` and ``defenses`` lists
are unions over the registered strategies, discriminated by ``kind``, so a plug-in's options
are validated (and appear in ``sumsim schema``) exactly like the built-ins'.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    model_validator,
)

from sumsim.errors import FieldError
from sumsim.scenario.registry import AGENTS, DEFENSES, load_plugins
from sumsim.scenario.units import Ether, Gwei


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ScenarioSection(Section):
    name: str = Field("scenario", description="Name of the run (used for output folder names).")
    description: str = Field("", description="What question the scenario asks.")
    seed: int = Field(1, ge=0, description="Master seed: every random draw derives from it.")
    duration_s: float | None = Field(
        None, gt=0, description="Stop at this simulated time; default: when the pool is "
        "exhausted and every deposit has been settled.")


class GasOverrides(Section):
    intrinsic: int | None = Field(None, ge=0)
    calldata_zero_byte: int | None = Field(None, ge=0)
    calldata_nonzero_byte: int | None = Field(None, ge=0)
    sstore_new: int | None = Field(None, ge=0)
    sstore_update: int | None = Field(None, ge=0)
    sload_cold: int | None = Field(None, ge=0)
    sload_warm: int | None = Field(None, ge=0)
    call_overhead: int | None = Field(None, ge=0)
    value_transfer: int | None = Field(None, ge=0)


class BaseFeeSection(Section):
    """A bounded EIP-1559-style base fee driven by block fullness (see sumsim.chain.fees)."""

    min_gwei: Gwei = Field(1)
    max_gwei: Gwei = Field(500)
    target: float = Field(0.5, gt=0, lt=1, description="Fullness at which the fee is stable.")
    adjust: float = Field(0.125, gt=0, lt=1, description="Largest relative move per slot.")
    background: float = Field(0.5, ge=0, le=1, description="Mean fullness from other traffic.")
    background_sd: float = Field(0.15, ge=0)
    shock_sd: float = Field(0.0, ge=0, description="Extra log-normal shock per sqrt(slot).")


class ChainSection(Section):
    block_time_s: float = Field(12, gt=0, description="Seconds between block slots.")
    block_gas_limit: int = Field(30_000_000, gt=21_000)
    gas_price_gwei: Gwei = Field(4, description="Gas price (gwei) every agent pays by default.")
    tx_gas_limit: int = Field(10_000_000, gt=21_000,
                              description="Default gas limit agents put on a transaction.")
    eth_usd: float = Field(373.0, gt=0, description="Ether price, for USD figures only.")
    gas_price_model: Literal["constant", "base_fee"] = "constant"
    base_fee: BaseFeeSection = Field(default_factory=BaseFeeSection)
    eth_usd_volatility: float = Field(0.0, ge=0, description="Ether price volatility per "
                                      "sqrt(day) (geometric Brownian motion); 0: constant.")
    gas: GasOverrides = Field(default_factory=GasOverrides)

    @model_validator(mode="after")
    def _limits(self) -> ChainSection:
        if self.tx_gas_limit > self.block_gas_limit:
            raise FieldError("must not exceed block_gas_limit", "tx_gas_limit")
        return self


class SyntheticParams(Section):
    n_train: int = Field(4000, ge=10)
    n_test: int = Field(2000, ge=1)
    n_features: int = Field(1000, ge=2)
    zipf_exponent: float = Field(1.05, gt=0)
    mean_words: float = Field(60.0, gt=0)
    sentiment_share: float = Field(0.2, ge=0, le=1)
    separability: float = Field(0.7, ge=0)
    ambiguous_share: float = Field(0.1, ge=0, le=1)
    label_noise: float = Field(0.03, ge=0, le=1)
    seed: int | None = Field(None, ge=0, description="Data seed; default: the scenario seed.")


class DataSection(Section):
    dataset: Literal["synthetic", "imdb", "csv", "parquet"] = "synthetic"
    path: str | None = Field(None, description="Archive/folder (imdb) or file (csv/parquet). "
                             "For imdb, SUMSIM_IMDB or --data-path override it.")
    num_words: int = Field(1000, ge=2, description="Vocabulary size for text features.")
    init_train_fraction: float = Field(0.08, ge=0, lt=1)
    shuffle: bool = Field(True, description="Shuffle the training data (seeded) before "
                          "splitting it into initial set and pool.")
    max_pool: int | None = Field(None, ge=1, description="Cap the contribution pool size.")
    max_test: int | None = Field(None, ge=1, description="Cap the test set size.")
    label_column: str = "label"
    text_column: str | None = None
    feature_columns: list[str] | None = None
    text_features: Literal["top_n", "hashed"] = "top_n"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    synthetic: SyntheticParams = Field(default_factory=SyntheticParams)

    @model_validator(mode="after")
    def _path(self) -> DataSection:
        if self.dataset in ("csv", "parquet") and not self.path:
            raise FieldError(f"dataset {self.dataset!r} needs a path", "path")
        return self


class ModelSection(Section):
    kind: Literal["perceptron", "naive_bayes", "nearest_centroid"] = "perceptron"
    learning_rate: float = Field(1, gt=0, description="Perceptron step on-chain.")
    init_learning_rate: float | None = Field(
        None, gt=0, description="Perceptron step of the off-chain initial training (default: "
        "learning_rate); larger gives the deployed model inertia.")
    fixed_point: bool = Field(True, description="Integer (int64) arithmetic as in a contract "
                              "(perceptron, nearest centroid).")
    epochs: int = Field(1, ge=1, description="Off-chain passes for the initial perceptron.")
    alpha: float = Field(1.0, gt=0, description="Naive Bayes Laplace smoothing.")


class DRTSection(Section):
    kind: Literal["deposit_refund_take"] = "deposit_refund_take"
    refund_wait_s: float = Field(86_400, ge=0, description="t_r")
    owner_claim_wait_s: float | None = Field(
        None, ge=0, description="t_o; default: equal to any_address_claim_wait_s")
    any_address_claim_wait_s: float = Field(777_600, ge=0, description="t_a")
    cost_weight: Ether = Field("0.016666666666666666",  # type: ignore[assignment]
                               description="w (ether): deposit = w * 3600 // isqrt(dt)")
    owner: str | None = Field(None, description="Agent name owning the contract; default: a "
                              "separate 'owner' address that does not act.")

    @model_validator(mode="after")
    def _order(self) -> DRTSection:
        t_o = self.any_address_claim_wait_s if self.owner_claim_wait_s is None \
            else self.owner_claim_wait_s
        if not self.refund_wait_s <= t_o <= self.any_address_claim_wait_s:
            raise FieldError("need refund_wait_s <= owner_claim_wait_s <= "
                             "any_address_claim_wait_s", "refund_wait_s")
        return self


class PointsSection(Section):
    kind: Literal["points"]
    refund_wait_s: float = Field(86_400, ge=0, description="When a contribution can be judged.")
    any_address_claim_wait_s: float = Field(777_600, ge=0, description="When judging closes.")
    points_good: int = Field(1, ge=0)
    points_bad: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _order(self) -> PointsSection:
        if self.refund_wait_s > self.any_address_claim_wait_s:
            raise FieldError("must not exceed any_address_claim_wait_s", "refund_wait_s")
        return self


class PredictionMarketSection(Section):
    kind: Literal["prediction_market"]
    bounty: Ether = Field(1000, description="Locked by the provider (ether).")
    min_stake: Ether = Field(1, description="Stake per contribution (ether).")
    participation_s: float = Field(30 * 86_400, gt=0)
    test_pieces: int = Field(10, ge=2, description="Pieces the test set is committed in.")
    any_address_claim_wait_s: float = Field(7 * 86_400, ge=0, description="After the reward "
                                            "phase, when anyone may take uncollected balances.")
    group_by_contributor: bool = Field(True, description="Score runs of consecutive "
                                       "contributions by one address together.")
    provider_gas: Ether = Field(1, description="Ether the provider holds for gas.")
    reveal_wrong_piece: bool = Field(False, description="The provider reveals a tampered "
                                     "piece at the end (the reveal must be rejected).")


def _incentive_kind(value: Any) -> str:
    """The incentive section's ``kind``; Deposit-Refund-Take when it is left out."""
    if isinstance(value, dict):
        return str(value.get("kind", "deposit_refund_take"))
    return str(getattr(value, "kind", "deposit_refund_take"))


INCENTIVE_KINDS = ("deposit_refund_take", "points", "prediction_market")
Incentive = Annotated[
    Annotated[DRTSection, Tag("deposit_refund_take")]
    | Annotated[PointsSection, Tag("points")]
    | Annotated[PredictionMarketSection, Tag("prediction_market")],
    Discriminator(_incentive_kind),
]


class MetricsSection(Section):
    eval_every_s: float = Field(200_000, gt=0, description="Test accuracy sampling period.")
    baseline: bool = Field(True, description="Fit the all-data baseline model.")
    counterfactual: bool = Field(False, description="Also run the same seed with the "
                                 "attackers removed, to measure accuracy damage.")
    figure: bool = Field(True, description="Draw figure.png.")


class ScenarioBase(Section):
    #: Replaced in `scenario_model` by unions over the registered strategies.
    agents: list[Any] = Field(default_factory=list)
    defenses: list[Any] = Field(default_factory=list)
    scenario: ScenarioSection = Field(default_factory=ScenarioSection)
    chain: ChainSection = Field(default_factory=ChainSection)
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    incentive: Incentive = Field(default_factory=lambda: DRTSection(kind="deposit_refund_take"))
    metrics: MetricsSection = Field(default_factory=MetricsSection)

    @model_validator(mode="after")
    def _names(self) -> ScenarioBase:
        agents: list[Any] = getattr(self, "agents", [])
        names = [a.name for a in agents]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            first = next(i for i, n in enumerate(names) if n in dup and names.index(n) != i)
            raise FieldError(f"agent names must be unique; repeated: {sorted(dup)}",
                             "agents", first, "name")
        reserved = {"owner", "fee_sink", "contract", "provider"} & set(names)
        if reserved:
            first = next(i for i, n in enumerate(names) if n in reserved)
            raise FieldError(f"agent names {sorted(reserved)} are reserved", "agents", first,
                             "name")
        owner = getattr(self.incentive, "owner", None)
        if owner is not None and owner not in names:
            raise FieldError(f"{owner!r} is not an agent name", "incentive", "owner")
        defenses: list[Any] = getattr(self, "defenses", [])
        kinds = [d.kind for d in defenses]
        wants_review = [i for i, d in enumerate(defenses) if getattr(d, "action", "") == "review"]
        if wants_review and "review_queue" not in kinds:
            raise FieldError("'review' needs a review_queue defense", "defenses",
                             wants_review[0], "action")
        if kinds.count("review_queue") > 1:
            second = [i for i, k in enumerate(kinds) if k == "review_queue"][1]
            raise FieldError("at most one review_queue defense", "defenses", second, "kind")
        return self


def _union(table: dict[str, Any]) -> Any:
    configs = tuple(p.config for p in table.values())
    if not configs:
        return dict[str, Any]
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator="kind")]  # noqa: UP007


@lru_cache(maxsize=1)
def scenario_model() -> type[ScenarioBase]:
    """The full Scenario model, with agent and defense unions over what is registered."""
    load_plugins()
    agent = _union(AGENTS)
    defense = _union(DEFENSES)
    return create_model(  # type: ignore[call-overload,no-any-return]
        "Scenario",
        __base__=ScenarioBase,
        agents=(list[agent], Field(min_length=1)),  # type: ignore[valid-type]
        defenses=(list[defense], Field(default_factory=list)),  # type: ignore[valid-type]
    )

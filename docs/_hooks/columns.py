"""What every column of every output file means, and its unit.

The tables on the outputs page are built from a real run made during the build (the column
names, their order and their Parquet types come from the files); the meanings come from here.
A column or summary entry the run writes that is not described here is a build warning, so a
strict build fails until it is documented.
"""

from __future__ import annotations

import fnmatch
from typing import Any

#: (pattern, unit, meaning); patterns are fnmatch-style, the first match wins.
TIMESERIES = [
    ("time_s", "s", "Simulated time of the sample (one row each time the dashboard publishes "
     "the test accuracy, every `metrics.eval_every_s`, and at the end)."),
    ("day", "days", "`time_s / 86400`."),
    ("accuracy", "fraction", "Test accuracy of the contract's model at that time."),
    ("contributions", "count", "Contributions stored so far."),
    ("contract_wei", "wei", "The contract's balance: deposits not yet refunded or taken, plus "
     "what the mechanism holds (a bounty, collected balances)."),
    ("fee_sink_wei", "wei", "Fees paid so far (they go to a sink address, so the supply is "
     "conserved)."),
    ("cum_gas", "gas", "Gas used by every transaction so far."),
    ("cum_fees_wei", "wei", "Fees paid by every transaction so far."),
    ("mempool", "count", "Transactions waiting to be included."),
    ("base_fee_wei", "wei per gas", "The gas price of the chain at that time (constant unless "
     "`chain.gas_price_model = \"base_fee\"`)."),
    ("eth_usd", "USD per ether", "Ether price (for USD figures only)."),
    ("balance_wei:*", "wei", "The wallet of the address named after the colon: one column per "
     "agent address, and per account of the mechanism's own (a prediction market's bounty "
     "provider), so that the wallets, `contract_wei` and `fee_sink_wei` add up to the supply "
     "in every row (deposits the contract still holds are in `contract_wei`)."),
    ("review_queue", "count", "`review_queue` defense: contributions waiting for or in review."),
    ("review_wait_mean_s", "s", "`review_queue` defense: mean wait of the reviews finished "
     "since the previous sample (empty when none)."),
]

COUNTERFACTUAL = [
    ("time_s", "s", "Simulated time of the sample in the run without the attackers."),
    ("day", "days", "`time_s / 86400`."),
    ("accuracy", "fraction", "Test accuracy of that run's model at that time."),
]

TRANSACTIONS = [
    ("tx_id", "id", "The transaction's sequence number (in the order sent); empty on the "
     "`internal` rows of transfers made outside any transaction."),
    ("block", "number", "Block that included the transaction."),
    ("time_s", "s", "Timestamp of that block."),
    ("submitted_s", "s", "When the agent sent it (it waited in the mempool until `time_s`)."),
    ("sender", "address", "Who sent it (an agent's name, `owner`, or a mechanism's actor such "
     "as `provider`)."),
    ("to", "address", "The recipient: the contract for a transaction; for an `internal` row, "
     "who received the transfer."),
    ("method", "", "`add_data`, `refund`, `report`, or a mechanism's own transaction; on an "
     "`internal` row, what the transfer was (`forfeit`: a review rejected a deposit)."),
    ("contribution", "id", "The contribution it created (`add_data`, when successful) or "
     "claimed from (`refund`, `report`); empty otherwise."),
    ("status", "", "`success`, `reverted` (ran and failed: the fee is paid, nothing else "
     "changes), `rejected` (not executable, e.g. the sender could not pay the gas) or "
     "`internal` (a transfer outside any transaction)."),
    ("reason", "", "The revert reason (empty on success)."),
    ("gas_used", "gas", "Gas the call used."),
    ("gas_price_wei", "wei per gas", "The price it paid per gas."),
    ("fee_wei", "wei", "`gas_used * gas_price_wei`, paid by the sender whatever the status."),
    ("value_wei", "wei", "Ether sent with the call (the deposit offered by `add_data`)."),
    ("deposit_kept_wei", "wei", "What the contract kept of `value_wei` (the deposit of a "
     "successful `add_data`)."),
    ("value_returned_wei", "wei", "Everything the call paid the sender: the change of an "
     "overpaid deposit, a refund, a take."),
    ("returned_wei", "wei", "What the contract paid the sender in this call besides the change "
     "of an overpaid deposit: the refund or the take."),
]

CONTRIBUTIONS = [
    ("id", "id", "Contribution id (its index in the contract's list)."),
    ("author", "address", "Who added it."),
    ("label", "class", "The label it was added with."),
    ("true_label", "class", "The sample's true label (simulation knowledge; empty for samples "
     "that are not from the pool, e.g. an attacker's own)."),
    ("ambiguous", "", "Whether the sample is one of the dataset's ambiguous ones."),
    ("pool_index", "index", "Row of the sample in the contribution pool (-1: not from the "
     "pool)."),
    ("added_s", "s", "When it was added."),
    ("n_features", "count", "Present features (non-zero entries) of the sample."),
    ("deposit_wei", "wei", "The deposit the contract kept when it was added."),
    ("refunded_wei", "wei", "Paid back to the author by `refund`."),
    ("taken_wei", "wei", "Taken by reporters (`report`), including takes after the "
     "any-address wait."),
    ("claimable_wei", "wei", "Still in the contract at the end."),
    ("forfeited_wei", "wei", "Forfeited by a review rejection."),
    ("pooled_wei", "wei", "Moved into a mechanism's pool (a prediction market's balances)."),
    ("status", "", "`accepted` (trained on), `untrained` (stored without training), "
     "`in_review`, or `rejected` by review."),
    ("outcome", "", "How its deposit ended: `refunded` (by its author, nothing taken), "
     "`taken` (reports took all of it), `refunded_and_taken` (reports took a share and its "
     "author the rest: `refunded_wei` and `taken_wei` give the split), `partly_taken` (taken "
     "from, something still claimable), `unclaimed`, `forfeited` (a review rejected it) or "
     "`pooled` (a mechanism's pool).  A contribution without a deposit (points) is "
     "`refunded` when its author claimed it, `taken` when another address did."),
    ("claims", "list", "Every successful claim on it: a list of `{time_s, by, kind, "
     "amount_wei}` (`kind` is `refund` or `report`; `amount_wei` integer wei as "
     "`Decimal(38, 0)`, as every `_wei` column)."),
]

#: summary.json, by dotted path (``<name>`` stands for an agent, group or defense name).
SUMMARY = [
    ("scenario", "", "The scenario's name."),
    ("seed", "", "The seed of the run."),
    ("end_time_s", "s", "When the run ended (every deposit settled, or `duration_s`)."),
    ("days", "days", "`end_time_s / 86400`."),
    ("accuracy.initial", "fraction", "Test accuracy of the initial model."),
    ("accuracy.final", "fraction", "At the end."),
    ("accuracy.min", "fraction", "Lowest sample."),
    ("accuracy.time_avg", "fraction", "Time average (each sample holds until the next)."),
    ("accuracy.baseline_all_data", "fraction", "The same model trained off-chain on the "
     "initial set plus the whole pool with true labels (`metrics.baseline`)."),
    ("agents.<name>.kind", "", "The agent's strategy."),
    ("agents.<name>.group", "", "The strategy it belongs to (a `sybil`'s addresses share one)."),
    ("agents.<name>.attacker", "", "Whether it is an attacker."),
    ("agents.<name>.start_wei", "wei", "Starting balance."),
    ("agents.<name>.final_wei", "wei", "Final wallet balance."),
    ("agents.<name>.profit_wei", "wei", "`final_wei - start_wei`."),
    ("agents.<name>.profit_eth", "ether", "The same as a float."),
    ("agents.<name>.in_profit", "", "Whether it ended with more than it started with."),
    ("agents.<name>.final_pct_of_start", "%", "`100 * final_wei / start_wei` (null when "
     "`start_wei` is 0)."),
    ("agents.<name>.roi", "ratio", "`profit_wei / deposits_wei` (null with no deposits: "
     "nothing to divide by)."),
    ("agents.<name>.contributions", "count", "Successful `add_data` calls."),
    ("agents.<name>.reverted_txs", "count", "Its transactions that reverted."),
    ("agents.<name>.rejected_txs", "count", "Its transactions that were rejected."),
    ("agents.<name>.deposits_wei", "wei", "Deposits it paid (value of successful calls minus "
     "change)."),
    ("agents.<name>.refunds_wei", "wei", "Refunds it received."),
    ("agents.<name>.takes_wei", "wei", "What it took by reports and takes: from others' "
     "contributions, and what was left of its own after the any-address wait (so more than "
     "others' `lost_to_others_wei` when it took back its own; `contributions.parquet`'s "
     "`claims` say whose)."),
    ("agents.<name>.lost_to_others_wei", "wei", "What others took from its contributions "
     "(its own late takes of them are not counted here: they are among its `takes_wei`)."),
    ("agents.<name>.fees_wei", "wei", "Fees it paid."),
    ("agents.<name>.forfeits_received_wei", "wei", "Forfeited deposits paid to it (a review "
     "queue's recipient)."),
    ("agents.<name>.other_received_wei", "wei", "Any other payment (a mechanism's own, e.g. a "
     "market balance); present only when non-zero."),
    ("agents.<name>.unexplained_wei", "wei", "Final balance minus the balance rebuilt from the "
     "receipts; 0 when every wei is accounted for."),
    ("honest_deposits_lost_wei", "wei", "What attackers and others took from non-attackers' "
     "contributions by reports (0 under the prediction market, which moves stakes between "
     "participants' balances instead: see its page)."),
    ("attackers_in_profit", "addresses", "The attackers that ended in profit (empty when "
     "none did)."),
    ("attacker_spend_wei", "wei", "Sum over attackers of their losses (`max(0, -profit)`)."),
    ("contract.final_balance_wei", "wei", "The contract's balance at the end."),
    ("contract.claimable_wei", "wei", "Deposits still claimable."),
    ("contract.held_by_mechanism_wei", "wei", "What the mechanism holds outside records."),
    ("contract.locked_wei", "wei", "Deposits a review rejected \"to the owner\" while the "
     "contract owns itself: locked in the contract, claimable by nobody."),
    ("contract.unexplained_wei", "wei", "`final_balance - claimable - held - locked`; 0 when "
     "solvent and exact."),
    ("contract.contributions", "count", "Contributions stored."),
    ("supply.initial_wei", "wei", "All balances at genesis."),
    ("supply.final_total_wei", "wei", "All balances at the end (equal to the initial supply: "
     "money is conserved)."),
    ("supply.fee_sink_wei", "wei", "Fees collected."),
    ("transactions.count", "count", "Transactions included."),
    ("transactions.success", "count", "Of which succeeded."),
    ("transactions.reverted", "count", "Reverted."),
    ("transactions.rejected", "count", "Rejected."),
    ("transactions.revert_reasons.*", "count", "Reverts by reason."),
    ("gas.fork", "", "The Ethereum fork whose prices the calls paid (`chain.fork`)."),
    ("gas.primitive_overrides", "", "The `[chain.gas]` primitive prices the scenario "
     "overrode (primitive -> gas; `{}` when it kept the fork's)."),
    ("gas.total", "gas", "Gas used by all transactions."),
    ("gas.fees_wei", "wei", "Fees paid by all transactions."),
    ("gas.fees_eth", "ether", "The same in ether."),
    ("gas.fees_usd", "USD", "The same at `chain.eth_usd`."),
    ("gas.mean_add_data_gas", "gas", "Mean gas of a successful `add_data`."),
    ("gas.mean_add_data_fee_eth", "ether", "Mean fee of a successful `add_data`."),
    ("gas.mean_add_data_usd", "USD", "The same at `chain.eth_usd`."),
    ("pool.size", "count", "Samples in the contribution pool."),
    ("pool.used", "count", "Samples taken from it by agents."),
    ("groups.<name>.addresses", "count", "Addresses of the strategy."),
    ("groups.<name>.attacker", "", "Whether the strategy attacks."),
    ("groups.<name>.start_wei", "wei", "Their starting balances."),
    ("groups.<name>.final_wei", "wei", "Their final balances."),
    ("groups.<name>.profit_wei", "wei", "Their profit."),
    ("groups.<name>.final_pct_of_start", "%", "`100 * final_wei / start_wei` (null when "
     "`start_wei` is 0)."),
    ("incentive.kind", "", "The mechanism; the other entries of `incentive` are the "
     "mechanism's own public state (see its page)."),
    ("incentive.*", "", "The mechanism's own section."),
    ("defenses.total_cost_wei", "wei", "What every defense cost (off-chain labour)."),
    ("defenses.<name>.*", "", "Per defense: `checked`, `flagged`, `verdicts`, "
     "`flagged_with_correct_label`, `flagged_honest`, `honest_checked`, "
     "`honest_false_positive_rate`, `honest_fees_lost_wei`, `cost_wei`, and its own metrics."),
    ("counterfactual.horizon_s", "s", "The span both time averages below cover: to the later "
     "of the two runs' ends (the run that ended first holds its last accuracy: its model is "
     "no longer trained)."),
    ("counterfactual.time_avg_accuracy_with_attackers", "fraction", "Time-averaged accuracy "
     "of this run over `horizon_s` (`accuracy.time_avg` is over the run's own span)."),
    ("counterfactual.time_avg_accuracy_without_attackers", "fraction", "Time-averaged "
     "accuracy of the same seed with the attackers removed (`metrics.counterfactual`), over "
     "`horizon_s`.  Everything else stays, defenses included: the damage is the attackers' "
     "against the defended contract, and what a defense costs honest users by itself shows "
     "against a run without it (a sweep over the defense)."),
    ("counterfactual.min_accuracy_without_attackers", "fraction", "Its minimum."),
    ("counterfactual.final_accuracy_without_attackers", "fraction", "Its final accuracy."),
    ("counterfactual.accuracy_damage_time_avg", "fraction", "Time-averaged accuracy without "
     "attackers minus with them, both over `horizon_s` (0.05 is 5 points)."),
    ("counterfactual.accuracy_damage_final", "fraction", "The same for the final accuracy."),
    ("counterfactual.attacker_spend_eth_per_point_lost", "ether per point", "Attacker spend "
     "divided by the time-averaged damage in points; empty when there is no damage.  A sweep's "
     "figure averages these per-run ratios over the runs that have one (its title counts "
     "them), and a run with almost no damage gives a huge ratio: for a point's cost of damage "
     "divide its mean `attacker_spend_eth` by 100 x its mean damage instead."),
    ("<strategy>.<name>.*", "", "A strategy's own section (`deposit_timing`, "
     "`front_running`, `griefing`, `sleeper`, ...), keyed by address."),
]


def describe(table: list[tuple[str, str, str]], name: str) -> tuple[str, str] | None:
    for pattern, unit, meaning in table:
        if fnmatch.fnmatchcase(name, pattern):
            return unit, meaning
    return None


def summary_paths(obj: Any, prefix: str = "") -> list[str]:
    """Every leaf of a summary, with agent/group/defense names replaced by ``<name>``."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            named = prefix in ("agents", "groups", "defenses") and k != "total_cost_wei"
            key = "<name>" if named else k
            path = f"{prefix}.{key}" if prefix else key
            if prefix.startswith("incentive") or prefix.startswith("transactions.revert"):
                out.append(path)
                continue
            out += summary_paths(v, path) if isinstance(v, dict) else [path]
    return list(dict.fromkeys(out))


def summary_undocumented(summary: dict[str, Any]) -> list[str]:
    known = {p for p, _, _ in SUMMARY}
    missing = []
    for path in summary_paths(summary):
        if path in known or any(fnmatch.fnmatchcase(path, p) for p in known if "*" in p):
            continue
        missing.append(path)
    return missing

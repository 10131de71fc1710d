# pragma version ~=0.4.3
"""
@title Deposit, Refund and Take (DRT) trainer with a sparse perceptron
@notice A binary sparse perceptron kept in one contract that anyone may train by
        staking a deposit (Sharing Updatable Models, self-assessment incentive).
        The rules are those of sumsim's DepositRefundTake (DESIGN.md section 3) with
        the original perceptron's semantics:
        - predict 1 iff intercept + sum(w[i] for i in x) > 0 (a score of exactly 0
          predicts 0);
        - train only when the prediction differs from the label, moving each present
          weight by +/- learning_rate; the intercept never changes.
        A sample is the list of its present feature indices.  Records keep only the
        keccak of the sample; refund and report take the sample back and check it.
        Revert reasons are sumsim's strings, so a differential test can compare them.
        Everything is integer; block timestamps are whole seconds.
"""

# Largest vocabulary and largest sample (number of present features).
MAX_FEATURES: constant(uint256) = 1000
MAX_SAMPLE: constant(uint256) = 1000

# Deposit scale: cost_weight * 3600 // isqrt(seconds since the last update).
DEPOSIT_SCALE: constant(uint256) = 3600


struct Contribution:
    author: address
    data_hash: bytes32
    label: uint256
    added_time: uint256
    initial_deposit: uint256
    claimable: uint256


event AddData:
    contribution_id: indexed(uint256)
    author: indexed(address)
    label: uint256
    deposit: uint256


event Refund:
    contribution_id: indexed(uint256)
    recipient: indexed(address)
    amount: uint256


event Report:
    contribution_id: indexed(uint256)
    recipient: indexed(address)
    amount: uint256


# -- model --------------------------------------------------------------------------
n_features: public(uint256)
weights: public(HashMap[uint256, int256])
intercept: public(int256)
learning_rate: public(int256)

# -- incentive mechanism ------------------------------------------------------------
owner: public(address)
cost_weight: public(uint256)
refund_wait_s: public(uint256)
owner_claim_wait_s: public(uint256)
any_address_claim_wait_s: public(uint256)
last_update_time: public(uint256)
num_valid: public(HashMap[address, uint256])
total_good: public(uint256)

# -- data handler -------------------------------------------------------------------
num_contributions: public(uint256)
contributions: public(HashMap[uint256, Contribution])
claimed: public(HashMap[uint256, HashMap[address, bool]])
# Claims made on each record (refunds and reports), counted as the original's data handler
# counts them: a new slot on a record's first claim, an update after.
num_claims: public(HashMap[uint256, uint256])
# keccak(author, data hash, label, time) -> 1 + the id whose record is stored under it.  As
# the original, a second add with the same key reverts while that record holds something
# claimable, and otherwise rewrites it: the new id shares the record (stored_at), whose
# deposit is the new one, its claim counter back at zero, its claimed flags kept.
data_keys: HashMap[bytes32, uint256]
# id -> 1 + the id whose record it shares (0: its own).
stored_at: HashMap[uint256, uint256]


@deploy
def __init__(
    weights: DynArray[int256, MAX_FEATURES],
    intercept: int256,
    learning_rate: int256,
    cost_weight: uint256,
    refund_wait_s: uint256,
    owner_claim_wait_s: uint256,
    any_address_claim_wait_s: uint256,
    owner: address,
):
    """
    @param weights Initial weights; their number is the vocabulary size.
    @param owner May take unclaimed deposits after owner_claim_wait_s.  Pass the zero
           address (or this contract's own address) to make that path unreachable, as
           in the deployed original where the trainer contract owns the mechanism.
    """
    assert refund_wait_s <= owner_claim_wait_s, "Waits must be ordered."
    assert owner_claim_wait_s <= any_address_claim_wait_s, "Waits must be ordered."
    n: uint256 = len(weights)
    for i: uint256 in range(n, bound=MAX_FEATURES):
        # Zero is storage's default: writing it would only cost gas.
        if weights[i] != 0:
            self.weights[i] = weights[i]
    self.n_features = n
    self.intercept = intercept
    self.learning_rate = learning_rate
    self.cost_weight = cost_weight
    self.refund_wait_s = refund_wait_s
    self.owner_claim_wait_s = owner_claim_wait_s
    self.any_address_claim_wait_s = any_address_claim_wait_s
    self.owner = owner
    self.last_update_time = block.timestamp


# -- views ----------------------------------------------------------------------------
# The score loop is written out in every function that predicts, rather than in an internal
# function taking the sample: passing a DynArray to an internal function copies it into a
# new memory frame sized for MAX_SAMPLE, which costs ~13k gas of memory per call.
@internal
@pure
def _label_of(score: int256) -> uint256:
    """The original perceptron's decision: 1 only for a strictly positive score."""
    if score > 0:
        return 1
    return 0


@external
@view
def predict(x: DynArray[uint256, MAX_SAMPLE]) -> uint256:
    """@notice 1 iff intercept + the sum of the present features' weights > 0."""
    score: int256 = self.intercept
    n: uint256 = self.n_features
    for i: uint256 in x:
        assert i < n, "Feature index out of range."
        score += self.weights[i]
    return self._label_of(score)


@internal
@view
def _required_deposit() -> uint256:
    w: uint256 = self.cost_weight
    if w == 0:
        return 0
    dt: uint256 = block.timestamp - self.last_update_time
    divisor: uint256 = 1
    if dt > 0:
        divisor = isqrt(dt)
    return w * DEPOSIT_SCALE // divisor


@external
@view
def required_deposit() -> uint256:
    """@notice The deposit an add_data in the current block must pay at least."""
    return self._required_deposit()


@internal
@view
def _record(contribution_id: uint256) -> uint256:
    """The id whose record ``contribution_id`` names (its own, or the one it rewrote)."""
    held: uint256 = self.stored_at[contribution_id]
    if held != 0:
        return held - 1
    return contribution_id


@external
@view
def claimable(contribution_id: uint256) -> uint256:
    """@notice What is left to refund or take from a contribution (0 if unknown)."""
    return self.contributions[self._record(contribution_id)].claimable


# -- transactions ---------------------------------------------------------------------
@external
@payable
def add_data(x: DynArray[uint256, MAX_SAMPLE], y: uint256) -> uint256:
    """
    @notice Store a labelled sample with its deposit and train on it.
    @return The new contribution's id (0, 1, 2, ...).
    """
    assert y <= 1, "Unknown class."
    deposit: uint256 = self._required_deposit()
    assert msg.value >= deposit, "Didn't pay enough for the deposit."
    # Predicting first also checks every index against the vocabulary.
    score: int256 = self.intercept
    n: uint256 = self.n_features
    for i: uint256 in x:
        assert i < n, "Feature index out of range."
        score += self.weights[i]
    prediction: uint256 = self._label_of(score)
    data_hash: bytes32 = keccak256(abi_encode(x))
    key: bytes32 = keccak256(abi_encode(msg.sender, data_hash, y, block.timestamp))
    held: uint256 = self.data_keys[key]
    if held != 0:
        assert self.contributions[held - 1].claimable == 0, (
            "Conflicting data key. The data may have already been added."
        )

    cid: uint256 = self.num_contributions
    if held != 0:
        self.stored_at[cid] = held
        self.contributions[held - 1].initial_deposit = deposit
        self.contributions[held - 1].claimable = deposit
        self.num_claims[held - 1] = 0
    else:
        self.data_keys[key] = cid + 1
        self.contributions[cid] = Contribution(
            author=msg.sender,
            data_hash=data_hash,
            label=y,
            added_time=block.timestamp,
            initial_deposit=deposit,
            claimable=deposit,
        )
    self.num_contributions = cid + 1
    self.last_update_time = block.timestamp

    if prediction != y:
        step: int256 = self.learning_rate
        if y == 0:
            step = -step
        for i: uint256 in x:
            self.weights[i] += step

    log AddData(contribution_id=cid, author=msg.sender, label=y, deposit=deposit)
    excess: uint256 = msg.value - deposit
    if excess > 0:
        send(msg.sender, excess)
    return cid


@internal
@view
def _load(contribution_id: uint256, data_hash: bytes32) -> Contribution:
    """Checks common to refund and report: a known id and the stored sample."""
    assert contribution_id < self.num_contributions, "Data not found."
    rec: Contribution = self.contributions[self._record(contribution_id)]
    assert data_hash == rec.data_hash, "Data does not match the contribution."
    return rec


@external
@payable
def refund(contribution_id: uint256, x: DynArray[uint256, MAX_SAMPLE]) -> uint256:
    """
    @notice The author takes back the whole deposit after refund_wait_s if the model
            then agrees with the contribution; that counts as good data.
    @return The amount paid.
    """
    # Payable only to revert with a reason: a non-payable Vyper function reverts bare.
    assert msg.value == 0, "This method does not accept ether."
    # Hashed here, not in _load, to avoid copying the sample (see predict).  A stored
    # sample passed add_data's index check, so the score loop below need not repeat it.
    rec: Contribution = self._load(contribution_id, keccak256(abi_encode(x)))
    r: uint256 = self._record(contribution_id)  # (the record both ids share, if rewritten)
    assert msg.sender == rec.author, "Data not found."
    assert not self.claimed[r][msg.sender], "Deposit already claimed by submitter."
    assert rec.claimable > 0, "There is no reward left to claim."
    assert block.timestamp - rec.added_time >= self.refund_wait_s, "Not enough time has passed."
    score: int256 = self.intercept
    for i: uint256 in x:
        score += self.weights[i]
    assert self._label_of(score) == rec.label, "The model doesn't agree with your contribution."

    amount: uint256 = rec.claimable
    self.contributions[r].claimable = 0
    self.claimed[r][msg.sender] = True
    self.num_claims[r] += 1
    self.num_valid[msg.sender] += 1
    self.total_good += 1
    log Refund(contribution_id=contribution_id, recipient=msg.sender, amount=amount)
    send(msg.sender, amount)
    return amount


@external
@payable
def report(contribution_id: uint256, x: DynArray[uint256, MAX_SAMPLE]) -> uint256:
    """
    @notice Take (part of) a deposit.  After owner_claim_wait_s the owner, and after
            any_address_claim_wait_s anyone, takes all that is left.  Before that, after
            refund_wait_s, someone else with refunded good data takes a share
            proportional to their good data while the model disagrees with it.
    @return The amount paid.
    """
    # Payable only to revert with a reason: a non-payable Vyper function reverts bare.
    assert msg.value == 0, "This method does not accept ether."
    # Hashed here, not in _load, to avoid copying the sample (see predict).  A stored
    # sample passed add_data's index check, so the score loop below need not repeat it.
    rec: Contribution = self._load(contribution_id, keccak256(abi_encode(x)))
    r: uint256 = self._record(contribution_id)  # (the record both ids share, if rewritten)
    assert rec.claimable > 0, "There is no reward left to claim."
    age: uint256 = block.timestamp - rec.added_time
    amount: uint256 = rec.claimable
    take_all: bool = age >= self.any_address_claim_wait_s or (
        age >= self.owner_claim_wait_s and msg.sender == self.owner
    )
    if not take_all:
        assert msg.sender != rec.author, (
            "Cannot take your own deposit."
        )
        assert not self.claimed[r][msg.sender], "Deposit already claimed by reporter."
        assert age >= self.refund_wait_s, "Not enough time has passed."
        score: int256 = self.intercept
        for i: uint256 in x:
            score += self.weights[i]
        assert self._label_of(score) != rec.label, (
            "The model should not agree with the contribution."
        )
        good: uint256 = self.num_valid[msg.sender]
        assert good > 0, "The sender has not sent any good data."
        amount = rec.initial_deposit * good // self.total_good
        if amount == 0 or amount > rec.claimable:
            amount = rec.claimable

    self.contributions[r].claimable = rec.claimable - amount
    self.claimed[r][msg.sender] = True
    self.num_claims[r] += 1
    log Report(contribution_id=contribution_id, recipient=msg.sender, amount=amount)
    send(msg.sender, amount)
    return amount

"""How many records each model of a linked account has, and when they were created/modified.

Base records are never stored: record ``i`` of a model has ``modified_at = mod0 + i * step``
(strictly increasing, so index order is ``(modified_at, id)`` order and ``modified_after`` is
arithmetic) and ``created_at = cre0 + i * cstep`` (all before the first ``modified_at``).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from merge_sandbox.hashing import hash64
from merge_sandbox.ids import IdSpace
from merge_sandbox.schema import ModelSpec
from merge_sandbox.timefmt import US_PER_DAY, US_PER_SECOND

MODIFIED_SPAN_US = 30 * US_PER_DAY  # base records were last modified during the past month
CREATED_SPAN_US = 365 * US_PER_DAY  # ... and created during the year before that
QUIET_US = 3600 * US_PER_SECOND  # nothing changed in the hour before the sandbox started
REMOTE_ID_BASE = 100_000

#: Relative volumes: a realistic account has many more employees than companies.
LARGE = {
    "Employee",
    "Employment",
    "TimesheetEntry",
    "TimeOff",
    "EmployeePayrollRun",
    "Benefit",
    "Candidate",
    "Application",
    "Activity",
    "Attachment",
    "ScheduledInterview",
    "Scorecard",
    "Contact",
    "Engagement",
    "Note",
    "Task",
    "Lead",
    "Opportunity",
    "Invoice",
    "Payment",
    "Transaction",
    "JournalEntry",
    "Expense",
    "Item",
    "Ticket",
    "Comment",
    "File",
    "Folder",
    "Article",
    "Message",
    "Event",
    "Member",
    "EmailAddress",
    "GeneralLedgerTransaction",
    "BankFeedTransaction",
    "TimeOffBalance",
    "Dependent",
    "BankInfo",
}
SMALL = {
    "Company",
    "CompanyInfo",
    "PayGroup",
    "Location",
    "Team",
    "Group",
    "Department",
    "Office",
    "RejectReason",
    "Stage",
    "EngagementType",
    "CustomObjectClass",
    "AssociationType",
    "AccountingPeriod",
    "PaymentMethod",
    "PaymentTerm",
    "TaxRate",
    "TrackingCategory",
    "Role",
    "Tag",
    "Drive",
    "Container",
    "Calendar",
    "Mailbox",
    "PayrollRun",
    "EmployerBenefit",
    "JobInterviewStage",
    "Collection",
    "Project",
    "BankFeedAccount",
    "Series",
    "Conversation",
}
_WEIGHT_LARGE, _WEIGHT_MEDIUM, _WEIGHT_SMALL = 12, 3, 1


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """Base records of one model of one account: count, ids and timestamps by index."""

    model_id: str
    count: int
    ids: IdSpace
    mod0: int
    step: int
    cre0: int
    cstep: int

    def modified_us(self, index: int) -> int:
        return self.mod0 + index * self.step

    def created_us(self, index: int) -> int:
        return self.cre0 + index * self.cstep

    def first_modified_after(self, moment_us: int) -> int:
        """Smallest index whose base ``modified_at`` is strictly after ``moment_us``."""
        return _first_after(moment_us, self.mod0, self.step)

    def first_created_after(self, moment_us: int) -> int:
        return _first_after(moment_us, self.cre0, self.cstep)

    @property
    def last_modified_us(self) -> int:
        return self.modified_us(max(self.count - 1, 0))


def _first_after(moment_us: int, start: int, step: int) -> int:
    if moment_us < start:
        return 0
    return (moment_us - start) // step + 1


def remote_id_for(index: int) -> str:
    return str(REMOTE_ID_BASE + index)


def index_of_remote_id(remote_id: str) -> int | None:
    return int(remote_id) - REMOTE_ID_BASE if remote_id.isdigit() else None


def weight(spec: ModelSpec) -> int:
    if spec.name in LARGE:
        return _WEIGHT_LARGE
    if spec.name in SMALL:
        return _WEIGHT_SMALL
    return _WEIGHT_MEDIUM


def spread_counts(specs: Iterable[ModelSpec], total: int) -> dict[str, int]:
    """Share ``total`` records over the models by weight; every model gets at least one."""
    specs = list(specs)
    weights = {s.model_id: weight(s) for s in specs}
    counts = dict.fromkeys(weights, 1)
    rest = total - len(counts)
    if rest <= 0:
        return counts
    whole = sum(weights.values())
    for model_id, share in weights.items():
        counts[model_id] += rest * share // whole
    leftover = total - sum(counts.values())
    for model_id in sorted(counts, key=lambda m: -weights[m])[:leftover]:
        counts[model_id] += 1
    return counts


def model_layout(
    seed: int, account_id: str, model_id: str, count: int, epoch_us: int
) -> ModelLayout:
    """Spread ``count`` records' timestamps over the month (year) before ``epoch_us``."""
    jitter = hash64("layout", seed, account_id, model_id) % (US_PER_DAY // 4)
    mod_end = epoch_us - QUIET_US - jitter
    step = max(1, MODIFIED_SPAN_US // max(count, 1))
    mod0 = mod_end - step * count
    cstep = max(1, CREATED_SPAN_US // max(count, 1))
    cre0 = mod0 - cstep * count - US_PER_DAY
    return ModelLayout(
        model_id, count, IdSpace.for_model(seed, account_id, model_id), mod0, step, cre0, cstep
    )


def account_layouts(
    seed: int, account_id: str, counts: Mapping[str, int], epoch_us: int
) -> dict[str, ModelLayout]:
    return {
        model_id: model_layout(seed, account_id, model_id, count, epoch_us)
        for model_id, count in counts.items()
    }

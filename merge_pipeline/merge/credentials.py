"""The per-call identity of one linked account."""

from dataclasses import dataclass

from pydantic import SecretStr

from merge_pipeline.merge.hygiene import header_value_problem


class MalformedAccountToken(ValueError):
    """A stored account token that cannot be sent (named by its account, never quoted)."""


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """Which linked account a call is for, and its ``X-Account-Token``.

    The token stays a :class:`SecretStr` so ``repr`` (and so logs, Dagster metadata and
    tracebacks that show locals) never reveal it; the id is not secret and names the account in
    error messages.
    """

    linked_account_id: str
    account_token: SecretStr

    def __post_init__(self) -> None:
        if not self.linked_account_id:
            raise ValueError("linked_account_id must not be empty")
        if not isinstance(self.account_token, SecretStr):
            # A plain str would show up in repr(); refuse it rather than wrap it silently.
            raise TypeError("account_token must be a pydantic SecretStr")
        if not self.account_token.get_secret_value():
            raise ValueError("account_token must not be empty")
        problem = header_value_problem(self.account_token.get_secret_value())
        if problem is not None:  # named, never quoted: the value is the secret
            raise MalformedAccountToken(
                f"the account token of linked account {self.linked_account_id} {problem}; "
                "store it again without it"
            )

"""Account tokens are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

Each token lets its holder read one customer's HR, CRM or accounting data, so the database never
holds one in plaintext. Keys can rotate: the first key encrypts, every listed key decrypts.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class TokenDecryptionError(RuntimeError):
    """A stored token could not be decrypted with any configured key (wrong or rotated-out key)."""


class TokenVault:
    """Encrypts and decrypts account tokens; never prints a key or a token."""

    def __init__(self, keys: SecretStr) -> None:
        fernets = [Fernet(k.strip().encode()) for k in keys.get_secret_value().split(",")]
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    def __repr__(self) -> str:
        return f"TokenVault(keys={self._key_count})"

    def encrypt(self, token: SecretStr) -> bytes:
        return self._fernet.encrypt(token.get_secret_value().encode())

    def decrypt(self, ciphertext: bytes) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(bytes(ciphertext)).decode())
        except InvalidToken:
            raise TokenDecryptionError(
                "an account token could not be decrypted: MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY "
                "does not include the key it was encrypted with"
            ) from None

    @property
    def key_count(self) -> int:
        return self._key_count

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt with the first (newest) key."""
        try:
            return self._fernet.rotate(bytes(ciphertext))
        except InvalidToken:
            raise TokenDecryptionError(
                "an account token could not be decrypted: MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY "
                "does not include the key it was encrypted with"
            ) from None


def generate_key() -> str:
    """A new random Fernet key for ``MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY``."""
    return Fernet.generate_key().decode()

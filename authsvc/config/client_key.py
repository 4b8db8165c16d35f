"""The client's own signing key (jwt_key / jwt_key_file), read and checked at start-up.

It signs the `private_key_jwt` client assertions (OIDC Core §9, RFC 7523 §2.2) with RS256, so it
must be an RSA private key of at least 2048 bits (RFC 7518 §3.3). Errors name the option and
never the key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from joserfc.jwk import RSAKey

from .loading import option_error

#: RFC 7518 §3.3: a key of 2048 bits or larger MUST be used with RS256
MIN_BITS = 2048
#: a PEM private key is a few KiB; anything far larger is the wrong file
_MAX_BYTES = 64 * 1024


def client_key(jwt_key: str, jwt_key_file: str) -> RSAKey | None:
    """The RSA private key from `jwt_key` (PEM text) or the file `jwt_key_file`; None when
    neither is set. ValueError (an option_error naming the option) when it is unusable."""
    if jwt_key:
        # env files cannot hold multi-line values: a PEM with literal "\n" is taken as meant
        text = jwt_key.replace("\\n", "\n") if "\n" not in jwt_key else jwt_key
        return _rsa_private_key(text.encode(), "jwt_key", "is")
    if not jwt_key_file:
        return None
    try:
        data = Path(jwt_key_file).read_bytes()
    except OSError as exc:
        raise option_error("jwt_key_file", f"{jwt_key_file}: cannot be read ({exc.strerror})") from None
    if len(data) > _MAX_BYTES:
        raise option_error("jwt_key_file", f"{jwt_key_file}: is larger than 64 KiB, not a PEM key")
    return _rsa_private_key(data, "jwt_key_file", f"{jwt_key_file}: holds")


def _rsa_private_key(pem: bytes, option: str, what: str) -> RSAKey:
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # cryptography's message may quote the input; ours does not
        problem = f"{what} a public key; the private key signs the client assertion" if _public(pem) \
            else f"{what} not a PEM RSA private key (unencrypted PKCS#1 or PKCS#8)"
        raise option_error(option, problem) from None
    if not isinstance(key, RSAPrivateKey):
        raise option_error(option, f"{what} not an RSA key (RS256 signs with RSA)")
    if key.key_size < MIN_BITS:
        raise option_error(option, f"{what} a {key.key_size}-bit RSA key; RS256 needs {MIN_BITS} bits or "
                                   "more (RFC 7518 3.3)")
    return RSAKey.import_key(key)


def _public(pem: bytes) -> bool:
    try:
        load_pem_public_key(pem)
    except (ValueError, TypeError):
        return False
    return True

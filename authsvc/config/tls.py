"""TLS: which CAs vouch for the IdP, and the HTTPS listener (oauth2-proxy's option names)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from .loading import CommaList, Problems

#: Go's (IANA) TLS 1.2 suite names -> OpenSSL's; the AEAD suites Python's ssl offers
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
#: TLS 1.3 suites: accepted and always on (Go does not let them be chosen either)
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")


class TLSOptions(BaseModel):
    """The trust store for calls to the IdP; the certificate and key of an HTTPS listener."""

    provider_ca_files: CommaList = Field(
        default_factory=list,
        description=(
            "PEM files of the CAs that sign the IdP's certificate (private-CA Keycloak, "
            "ADFS, ...): only these are trusted, unless `use_system_trust_store`"
        ),
        json_schema_extra={"default_note": "(the bundled certifi store)"},
    )
    use_system_trust_store: bool = Field(
        False,
        description="trust the operating system's CA store (with `provider_ca_files`: both)",
    )
    ssl_insecure_skip_verify: bool = Field(
        False,
        description="do not verify the IdP's certificate at all (insecure; warned at start-up)",
    )
    https_address: str = Field(
        ":443",
        description=(
            "with `tls_cert_file` and `tls_key_file`: serve HTTPS here **instead of** "
            "`http_address` (oauth2-proxy's rule); without a certificate it only names the port "
            "`force_https` sends a request to a host with a port to"
        ),
    )
    tls_cert_file: str = Field(
        "",
        description="PEM certificate (chain) of the HTTPS listener",
    )
    tls_key_file: str = Field(
        "",
        description="its private key",
    )
    tls_min_version: Literal["", "TLS1.2", "TLS1.3"] = Field(
        "",
        description="`TLS1.2` or `TLS1.3`",
        json_schema_extra={"default_note": "(TLS 1.2)"},
    )
    tls_cipher_suites: CommaList = Field(
        default_factory=list,
        description=(
            "TLS 1.2 suites allowed, by Go's names "
            "(`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, ...); TLS 1.3's are fixed"
        ),
        json_schema_extra={"default_note": "(Python's defaults)"},
    )
    metrics_secure_address: str = Field(
        "",
        description=(
            "`host:port` of a separate HTTPS listener for `/metrics` (with "
            "`metrics_tls_cert_file` and `metrics_tls_key_file`)"
        ),
    )
    metrics_tls_cert_file: str = Field(
        "",
        description="PEM certificate of the HTTPS `/metrics` listener",
    )
    metrics_tls_key_file: str = Field(
        "",
        description="its private key",
    )

    @field_validator("tls_cipher_suites")
    @classmethod
    def _tls_ciphers(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in CIPHER_SUITES and name not in TLS13_SUITES:
                raise ValueError(f"{name!r} is not a cipher suite authsvc can offer (one of "
                                 f"{', '.join(CIPHER_SUITES)})")
        return value

    @property
    def openssl_ciphers(self) -> str:
        """tls_cipher_suites in OpenSSL's spelling ("" = Python's defaults)."""
        return ":".join(CIPHER_SUITES[n] for n in self.tls_cipher_suites if n in CIPHER_SUITES)

    @field_validator("tls_min_version", mode="before")
    @classmethod
    def _tls_version(cls, value: object) -> object:
        # oauth2-proxy spells them TLS1.2 / TLS1.3; accept the case and a missing dot loosely
        if isinstance(value, str):
            text = value.strip().upper().replace("V", "").replace("TLS1", "TLS1.").replace("..", ".")
            return {"TLS1.": ""}.get(text, text)
        return value

    @field_validator("https_address", "metrics_secure_address")
    @classmethod
    def _tls_address(cls, value: str) -> str:
        value = value.removeprefix("https://")
        if not value:
            return value
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port (e.g. 0.0.0.0:4443 or :443)")
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        problems = Problems()
        for path in self.provider_ca_files:
            try:
                ssl.create_default_context(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                problems.add("provider_ca_files", f"{path!r} is not a readable PEM CA file "
                             f"({getattr(exc, 'strerror', None) or exc})")
                break
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            problems.add("tls_cert_file", "and tls_key_file go together")
        else:
            _check_pair(problems, "tls_cert_file", self.tls_cert_file, self.tls_key_file)
        if self.tls_cert_file and not self.https_address:
            # with a certificate only the HTTPS listener runs: it needs an address
            problems.add("https_address", "is required with tls_cert_file (e.g. :443 or 0.0.0.0:4443)")
        if self.metrics_secure_address and not (self.metrics_tls_cert_file and self.metrics_tls_key_file):
            problems.add("metrics_secure_address", "needs metrics_tls_cert_file and metrics_tls_key_file")
        else:
            _check_pair(problems, "metrics_tls_cert_file", self.metrics_tls_cert_file,
                        self.metrics_tls_key_file)
        problems.raise_any()
        return self

    @property
    def serves_tls(self) -> bool:
        """oauth2-proxy's rule: with a certificate, only the HTTPS listener runs."""
        return bool(self.tls_cert_file)


def _check_pair(problems: Problems, option: str, cert: str, key: str) -> None:
    if not cert:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        problems.add(option, f"with its key file does not load: {getattr(exc, 'strerror', None) or exc}")


def provider_verify(options: TLSOptions) -> ssl.SSLContext | bool:
    """httpx's `verify` for calls to the IdP: True is the bundled certifi store.

    provider_ca_files alone trust those CAs only (oauth2-proxy's rule); with
    use_system_trust_store the operating system's store as well.
    """
    if options.ssl_insecure_skip_verify:
        return False
    if not options.provider_ca_files and not options.use_system_trust_store:
        return True
    if options.use_system_trust_store:
        context = ssl.create_default_context()  # the OS store (SSL_CERT_FILE/DIR honoured)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check and CERT_REQUIRED on
    for path in options.provider_ca_files:
        context.load_verify_locations(cafile=str(Path(path)))
    return context

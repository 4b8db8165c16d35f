"""Request heads that HTTP/1.1 servers disagree on: request smuggling and malformed requests.

A corpus for tests/integration/test_smuggling_differential.py, which sends each case, followed
by one plain pipelined check, to authsvc, real nginx and real Envoy, and compares how many
requests each one answered. Every case is named and carries where it comes from:

- RFC 9112 (HTTP/1.1): §2.2 (message parsing: bare CR, whitespace before the first header,
  leading empty lines), §3 (request line: method, target, version), §3.2 (Host: 400 for none
  or more than one on HTTP/1.1, the absolute form overrides it), §5.1 (no whitespace between a
  field name and its colon: 400), §5.2 (obs-fold), §6.1 (Transfer-Encoding; on HTTP/1.0 the
  framing is faulty), §6.3 (message body length: TE with CL, bad CLs), §7.1 (chunked: chunk
  size, extensions, trailers), §11.2 (request smuggling); RFC 9110 §5.5 (field values: no CR,
  LF or NUL), §5.6.2 (tokens), §8.6 (Content-Length: 1*DIGIT).
- PortSwigger research: James Kettle, "HTTP Desync Attacks: Request Smuggling Reborn" (2019;
  CL.TE, TE.CL and the TE.TE obfuscation list: `Transfer-Encoding : chunked`, `xchunked`,
  tabs, vertical tab, a second TE line, obs-fold), "HTTP/2: The Sequel is Always Worse" (2021),
  "Browser-Powered Desync Attacks" (2022; client-side desync, a body on a GET the server does
  not expect), and the Web Security Academy's "HTTP request smuggling" topic.
- Watchfire (Linhart, Klein, Heled, Orrin), "HTTP Request Smuggling" (2005): two
  Content-Lengths, CL on GET.
- Bishop Fox (Jake Miller), "h2c Smuggling: Request Smuggling Via HTTP/2 Cleartext" (2020):
  `Upgrade: h2c` with `HTTP2-Settings`, honoured by a backend behind a proxy that passes it on.
- Jeppe Bonde Weikop, "Funky chunks: abusing ambiguous chunk line terminators for request
  smuggling" (2025): bare LF in chunk extensions and chunk lines.
- nginx: ngx_http_parse.c's rules (reached as `client sent invalid ...` in the error log),
  `ignore_invalid_headers`, `underscores_in_headers`, `large_client_header_buffers`
  (https://nginx.org/en/docs/http/ngx_http_core_module.html); since 1.21.1 (its CHANGES) nginx
  refuses Content-Length with Transfer-Encoding, TE on HTTP/1.0, and spaces or control
  characters in the request line and in header names.
- Envoy: its HTTP/1 codec (Balsa in recent releases: Http1ProtocolOptions.use_balsa_parser)
  and Http1ProtocolOptions' defaults (`allow_chunked_length` false, `accept_http_10` false:
  426, `allow_absolute_url`, `allow_custom_methods` false,
  https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/protocol.proto).

A case is the raw bytes of one request (head and any body, as sent), which may hide a second
request (`SMUGGLED`) that a reader who frames the first request differently would answer.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the check every case targets, and the Host all servers accept
PATH = b"/oauth2/auth"
HOST = b"auth.internal"
#: the request line of a case (the usual check)
LINE = b"GET " + PATH + b" HTTP/1.1"
#: a second request hidden in the first one's body (or sent after it): answered only by a
#: reader whose idea of where the first request ends is not the sender's
SMUGGLED = b"GET " + PATH + b"?smuggled=1 HTTP/1.1\r\nHost: " + HOST + b"\r\n\r\n"
#: the plain pipelined check after every case; it asks to close, so every exchange ends
FOLLOW = b"GET " + PATH + b"?follow=1 HTTP/1.1\r\nHost: " + HOST + b"\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    #: what it tests and where it comes from (shown in the verdict table)
    about: str
    group: str


def head(*fields: bytes, line: bytes = LINE, host: bool = True, end: bytes = b"\r\n") -> bytes:
    """A request head: `line`, Host (unless not), the `fields` as given, the empty line."""
    lines = [line, *([b"Host: " + HOST] if host else []), *fields]
    return b"".join(item + end for item in lines) + end


def chunked(data: bytes) -> bytes:
    """`data` as one chunk and the last chunk."""
    return b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"


CASES: list[Case] = []


def case(group: str, name: str, data: bytes, about: str) -> None:
    assert all(c.name != name for c in CASES), name
    CASES.append(Case(name, data, about, group))


# --- baselines: what every server must answer (so a refusal elsewhere is the case's doing) ----
case("baseline", "plain", head(), "a plain check, then the pipelined one: two answers everywhere")
case(
    "baseline",
    "cl-body",
    head(b"Content-Length: %d" % len(SMUGGLED)) + SMUGGLED,
    "RFC 9112 §6.3: a body that reads like a request is a body (Watchfire 2005)",
)
case(
    "baseline",
    "te-body",
    head(b"Transfer-Encoding: chunked") + chunked(SMUGGLED),
    "RFC 9112 §7.1: a chunked body that reads like a request is a body",
)
case(
    "baseline",
    "te-trailer",
    head(b"Transfer-Encoding: chunked") + b"1\r\nx\r\n0\r\nX-Trailer: t\r\n\r\n",
    "RFC 9112 §7.1.2: a trailer section after the last chunk",
)
case(
    "baseline",
    "te-chunk-ext",
    head(b"Transfer-Encoding: chunked") + b"1;name=value\r\nx\r\n0\r\n\r\n",
    "RFC 9112 §7.1.1: a chunk extension (ignored)",
)
case(
    "baseline",
    "te-tab-ows",
    head(b"Transfer-Encoding:\tchunked") + chunked(SMUGGLED),
    "RFC 9110 §5.6.3: a tab is OWS, so this is chunked (Kettle 2019 lists it as an obfuscation)",
)
case(
    "baseline",
    "te-case",
    head(b"transfer-encoding: CHUNKED") + chunked(SMUGGLED),
    "RFC 9112 §7: transfer-coding names are case-insensitive",
)
case(
    "baseline",
    "cl-leading-zeros",
    head(b"Content-Length: 000%d" % len(SMUGGLED)) + SMUGGLED,
    "RFC 9110 §8.6: Content-Length = 1*DIGIT, leading zeros are digits",
)
case(
    "baseline",
    "cl-trailing-ows",
    head(b"Content-Length: %d \t" % len(SMUGGLED)) + SMUGGLED,
    "RFC 9110 §5.5: OWS after a field value is not part of it",
)
case(
    "baseline",
    "leading-crlf",
    b"\r\n" + head(),
    "RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line",
)
case(
    "baseline",
    "http10",
    head(line=b"GET " + PATH + b" HTTP/1.0"),
    "HTTP/1.0 without keep-alive: one answer, then close (RFC 9112 §9.3)",
)
case(
    "baseline",
    "http10-keep-alive",
    head(b"Connection: keep-alive", line=b"GET " + PATH + b" HTTP/1.0"),
    "HTTP/1.0 keep-alive (RFC 9112 §C.2.2): two answers",
)
case(
    "baseline",
    "expect-100",
    head(b"Expect: 100-continue", b"Content-Length: 5") + b"hello",
    "RFC 9110 §10.1.1: Expect: 100-continue with its body sent at once",
)
case("baseline", "head-method", head(line=b"HEAD " + PATH + b" HTTP/1.1"), "HEAD: an answer without a body")
case("baseline", "host-ows", head(b"Host:   auth.internal  ", host=False), "RFC 9110 §5.5: OWS around Host")
case(
    "baseline",
    "host-ipv6",
    head(b"Host: [::1]:8080", host=False),
    "RFC 3986 §3.2.2: an IP literal and a port",
)
case("baseline", "host-port", head(b"Host: auth.internal:8080", host=False), "RFC 9110 §7.2: host:port")
case(
    "baseline",
    "absolute-form",
    head(line=b"GET http://evil.example" + PATH + b" HTTP/1.1"),
    "RFC 9112 §3.2.2: the absolute form; its authority replaces Host (nginx, Envoy accept it)",
)
case("baseline", "query", head(line=b"GET " + PATH + b"?a=1&b=%26 HTTP/1.1"), "a query")

# --- CL.TE and TE.CL: both framings (RFC 9112 §6.3 item 3, §11.2; Kettle 2019) -----------------
_cl_te_body = b"0\r\n\r\n" + SMUGGLED
case(
    "cl-te",
    "cl-te",
    head(b"Content-Length: %d" % len(_cl_te_body), b"Transfer-Encoding: chunked") + _cl_te_body,
    "CL.TE: a CL reader sees one request, a TE reader two",
)
_size = b"%x\r\n" % len(SMUGGLED)
_te_cl_body = _size + SMUGGLED + b"\r\n0\r\n\r\n"
case(
    "cl-te",
    "te-cl",
    head(b"Transfer-Encoding: chunked", b"Content-Length: %d" % len(_size)) + _te_cl_body,
    "TE.CL: a TE reader sees one request, a CL reader a second",
)
case(
    "cl-te",
    "cl0-te",
    head(b"Content-Length: 0", b"Transfer-Encoding: chunked") + chunked(SMUGGLED),
    "CL: 0 with TE chunked (Kettle 2019)",
)


def te_te(name: str, te: bytes, about: str, *, cl: bool = True) -> None:
    """TE.TE (Kettle 2019): a TE that one reader honours and another ignores, with a CL that
    frames the same bytes differently (or, without `cl`, no body at all to the ignoring one)."""
    fields = [te, b"Content-Length: %d" % len(_cl_te_body)] if cl else [te]
    case("te-obfuscation", name, head(*fields) + _cl_te_body, about)


te_te(
    "te-space-colon",
    b"Transfer-Encoding : chunked",
    "RFC 9112 §5.1: whitespace before the colon MUST be a 400",
)
te_te("te-xchunked", b"Transfer-Encoding: xchunked", "an unknown coding: RFC 9112 §6.1 says 501")
te_te(
    "te-chunked-identity",
    b"Transfer-Encoding: chunked, identity",
    "RFC 9112 §6.3: chunked not last: the length cannot be determined (400)",
)
te_te(
    "te-identity-chunked",
    b"Transfer-Encoding: identity, chunked",
    "identity (removed in RFC 7230) then chunked",
)
te_te("te-two-lines", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x", "two TE lines (Kettle 2019)")
te_te(
    "te-two-lines-chunked",
    b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked",
    "two TE lines, chunked last (RFC 9110 §5.3 combines them)",
)
te_te("te-vtab-before", b"Transfer-Encoding: \x0bchunked", "a vertical tab is not OWS (Kettle 2019)")
te_te("te-vtab-after", b"Transfer-Encoding: chunked\x0b", "a vertical tab after the value")
te_te("te-tab-name", b"Transfer-Encoding\t: chunked", "a tab between name and colon (RFC 9112 §5.1)")
te_te("te-obs-fold", b"Transfer-Encoding:\r\n chunked", "obs-fold (RFC 9112 §5.2; Kettle 2019)")
te_te("te-quoted", b'Transfer-Encoding: "chunked"', "a quoted coding")
te_te("te-leading-space-line", b" Transfer-Encoding: chunked", "a folded line after Host (RFC 9112 §5.2)")
te_te("te-bare-lf", b"X-A: b\nTransfer-Encoding: chunked", "a bare LF before TE (RFC 9112 §2.2)")
te_te("te-bare-cr", b"X-A: b\rTransfer-Encoding: chunked", "a bare CR before TE (RFC 9112 §2.2: 400)")
te_te("te-underscore", b"Transfer_Encoding: chunked", "an underscore instead of the dash (nginx ignores it)")
te_te("te-nul", b"Transfer-Encoding: chunked\x00", "a NUL in the value (RFC 9110 §5.5)")
te_te(
    "te-xchunked-alone",
    b"Transfer-Encoding: xchunked",
    "an unknown coding without CL (RFC 9112 §6.1: 501)",
    cl=False,
)
te_te("te-vtab-alone", b"Transfer-Encoding: \x0bchunked", "a vertical tab, without CL", cl=False)
te_te(
    "te-space-colon-alone",
    b"Transfer-Encoding : chunked",
    "whitespace before the colon, without CL",
    cl=False,
)

# --- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3 items 5 and 7) -------------------------------
_n = len(SMUGGLED)


def cl(name: str, value: bytes, about: str, *more: bytes) -> None:
    """A CL that frames SMUGGLED as the body, if read as the number it looks like."""
    case("content-length", name, head(b"Content-Length" + value, *more) + SMUGGLED, about)


cl("cl-plus", b": +%d" % _n, "a sign is not a DIGIT")
cl("cl-list-equal", b": %d, %d" % (_n, _n), "a list of equal values (RFC 9110 §8.6 MAY accept)")
cl("cl-two-equal", b": %d" % _n, "two equal Content-Length lines", b"Content-Length: %d" % _n)
cl(
    "cl-two-different",
    b": 0",
    "two different lengths (RFC 9112 §6.3 item 5: 400)",
    b"Content-Length: %d" % _n,
)
cl("cl-huge", b": 99999999999999999999999", "an overflowing length")
cl("cl-hex", b": 0x%x" % _n, "a hex length")
cl("cl-space-colon", b" : %d" % _n, "whitespace before the colon (RFC 9112 §5.1: 400)")
cl("cl-negative", b": -%d" % _n, "a negative length")
cl("cl-vtab", b":\x0b%d" % _n, "a vertical tab before the value")
cl("cl-inner-space", b": %d %d" % (_n // 10, _n % 10), "a space inside the number")
cl("cl-empty", b":", "an empty Content-Length")
cl("cl-decimal", b": %d.0" % _n, "a decimal point")
cl("cl-obs-fold", b":\r\n %d" % _n, "the value on a folded line (RFC 9112 §5.2)")

# --- HTTP/1.0 with Transfer-Encoding (RFC 9112 §6.1: the framing is faulty) -----------------------
_line10 = b"GET " + PATH + b" HTTP/1.0"
case(
    "http10-te",
    "http10-te",
    head(b"Transfer-Encoding: chunked", b"Connection: keep-alive", line=_line10) + chunked(SMUGGLED),
    "RFC 9112 §6.1: TE on HTTP/1.0 MUST be treated as faulty framing",
)
case(
    "http10-te",
    "http10-te-cl",
    head(
        b"Transfer-Encoding: chunked",
        b"Content-Length: %d" % len(_cl_te_body),
        b"Connection: keep-alive",
        line=_line10,
    )
    + _cl_te_body,
    "RFC 9112 §6.1: ... even if a Content-Length is present",
)

# --- chunked bodies (RFC 9112 §7.1; Weikop 2025) -----------------------------------------------


def chunks(name: str, body: bytes, about: str) -> None:
    case("chunked", name, head(b"Transfer-Encoding: chunked") + body, about)


chunks("chunk-size-bad", b"zz\r\n" + SMUGGLED + b"\r\n0\r\n\r\n", "a chunk size that is not hex")
chunks("chunk-size-overflow", b"1" + b"0" * 20 + b"\r\nx\r\n0\r\n\r\n", "a chunk size that overflows 64 bits")
chunks("chunk-size-0x", b"0x%x\r\n" % _n + SMUGGLED + b"\r\n0\r\n\r\n", "a 0x prefix")
chunks("chunk-size-space", b" %x\r\n" % _n + SMUGGLED + b"\r\n0\r\n\r\n", "a space before the size")
chunks(
    "chunk-size-trailing-space",
    b"%x \r\n" % _n + SMUGGLED + b"\r\n0\r\n\r\n",
    "a space after the size (BWS before an extension)",
)
chunks("chunk-size-negative", b"-1\r\nx\r\n0\r\n\r\n", "a negative size")
chunks(
    "chunk-ext-bare-lf",
    b"%x;ext\n" % _n + SMUGGLED + b"\r\n0\r\n\r\n",
    "a bare LF ending a chunk line with an extension (Weikop 2025)",
)
chunks("chunk-line-bare-lf", b"%x\n" % _n + SMUGGLED + b"\n0\n\n", "bare LF chunk lines (Weikop 2025)")
chunks("chunk-ext-bare-cr", b"%x;a\rb\r\n" % _n + SMUGGLED + b"\r\n0\r\n\r\n", "a bare CR in an extension")
chunks("chunk-data-no-crlf", b"1\r\nxx0\r\n\r\n" + SMUGGLED, "chunk data longer than its size")
chunks("chunk-data-lf", b"1\r\nx\n0\r\n\r\n", "chunk data ended by a bare LF (Weikop 2025)")
chunks(
    "chunk-ext-quoted-crlf",
    b'1;a="\r\n' + SMUGGLED + b'"\r\nx\r\n0\r\n\r\n',
    "a quoted extension that spans a line",
)
chunks("chunk-trailer-smuggle", b"0\r\nX-T: 1\n" + SMUGGLED, "a bare LF in the trailer section")

# --- control characters (RFC 9112 §2.2, RFC 9110 §5.5, §5.6.2) ---------------------------------
_ctl = "control"
case(_ctl, "value-bare-cr", head(b"X-A: a\rb"), "RFC 9112 §2.2: a bare CR MUST be a 400 or replaced by SP")
case(_ctl, "value-nul", head(b"X-A: a\x00b"), "RFC 9110 §5.5: a NUL in a value MUST be refused or replaced")
case(_ctl, "value-ctl", head(b"X-A: a\x01b"), "a C0 control in a value (not field-vchar)")
case(_ctl, "value-del", head(b"X-A: a\x7fb"), "DEL in a value (not field-vchar)")
case(_ctl, "value-bare-lf", head(b"X-A: a\nX-B: b"), "RFC 9112 §2.2: a bare LF MAY be read as a line end")
case(_ctl, "name-nul", head(b"X-\x00A: a"), "a NUL in a name (not a tchar)")
case(_ctl, "name-space", head(b"Bad Header: x"), "a space in a name (nginx: ignore_invalid_headers)")
case(_ctl, "name-ctl", head(b"X-\x01A: a"), "a C0 control in a name")
case(_ctl, "name-empty", head(b": x"), "an empty field name")
case(_ctl, "name-no-colon", head(b"X-No-Colon"), "a line without a colon")
case(_ctl, "name-underscore", head(b"X_Auth_Request_User: x"), "an underscore in a name (valid tchar)")
case(_ctl, "line-nul", head(line=b"GET " + PATH + b"\x00 HTTP/1.1"), "a NUL in the request target")
case(_ctl, "line-bare-cr", head(line=b"GET " + PATH + b"\r HTTP/1.1"), "a bare CR in the request line")
case(_ctl, "line-bare-lf", head(end=b"\n"), "a head of bare LF line ends (RFC 9112 §2.2 MAY)")
case(_ctl, "line-ctl", head(line=b"GET " + PATH + b"\x01 HTTP/1.1"), "a C0 control in the target")
case(_ctl, "line-high-byte", head(line=b"GET " + PATH + b"\xff HTTP/1.1"), "a non-ASCII byte in the target")
case(_ctl, "obs-fold", head(b"X-A: a", b" folded"), "RFC 9112 §5.2: obs-fold: 400 or replace by SP")
case(
    _ctl,
    "space-before-first-header",
    head(b" X-A: a", host=False) + b"",
    "RFC 9112 §2.2: whitespace before the first header: reject, or ignore the line",
)
case(
    _ctl,
    "space-before-host",
    LINE + b"\r\n Host: " + HOST + b"\r\n\r\n",
    "RFC 9112 §2.2: the only Host line is whitespace-preceded (so it is no Host)",
)

# --- Host (RFC 9112 §3.2, RFC 9110 §7.2) --------------------------------------------------------
case("host", "host-missing", head(host=False), "RFC 9112 §3.2: HTTP/1.1 without Host MUST be a 400")
case("host", "host-two-same", head(b"Host: " + HOST), "RFC 9112 §3.2: more than one Host MUST be a 400")
case("host", "host-two-different", head(b"Host: evil.example"), "two different Hosts (RFC 9112 §3.2)")
case("host", "host-list", head(b"Host: auth.internal, evil.example", host=False), "a list in Host")
case("host", "host-space", head(b"Host: auth internal", host=False), "a space inside Host")
case("host", "host-slash", head(b"Host: auth.internal/x", host=False), "a path in Host")
case("host", "host-userinfo", head(b"Host: user@auth.internal", host=False), "userinfo in Host")
case("host", "host-bad-port", head(b"Host: auth.internal:80x", host=False), "a port that is no number")
case("host", "host-bracket", head(b"Host: [::1", host=False), "an unclosed IPv6 literal")
case(
    "host",
    "host-empty",
    head(b"Host:", host=False),
    "RFC 9112 §3.2: empty only for a URI without authority; an http URI has one (RFC 9110 §4.2.1)",
)
case("host", "host-missing-10", head(host=False, line=_line10), "HTTP/1.0 needs no Host")
case(
    "host",
    "absolute-form-no-host",
    head(host=False, line=b"GET http://auth.internal" + PATH + b" HTTP/1.1"),
    "RFC 9112 §3.2: a client MUST send Host even with the absolute form",
)

# --- request targets (RFC 9112 §3.2) --------------------------------------------------------------
_t = "target"
case(_t, "asterisk-get", head(line=b"GET * HTTP/1.1"), "RFC 9112 §3.2.4: * is for OPTIONS only")
case(_t, "asterisk-options", head(line=b"OPTIONS * HTTP/1.1"), "RFC 9112 §3.2.4: OPTIONS *")
case(
    _t,
    "authority-get",
    head(line=b"GET auth.internal:80 HTTP/1.1"),
    "RFC 9112 §3.2.3: authority form is CONNECT's",
)
case(_t, "connect", head(line=b"CONNECT auth.internal:443 HTTP/1.1"), "CONNECT: a tunnel, not a check")
case(_t, "fragment", head(line=b"GET " + PATH + b"#frag HTTP/1.1"), "a fragment (RFC 9112 §3.2: not sent)")
case(_t, "fragment-query", head(line=b"GET " + PATH + b"?a=1#frag HTTP/1.1"), "a query, then a fragment")
case(_t, "relative-no-slash", head(line=b"GET oauth2/auth HTTP/1.1"), "an origin form without its slash")
case(_t, "backslash", head(line=b"GET /oauth2\\auth HTTP/1.1"), "a backslash in the path")
case(_t, "space-in-target", head(line=b"GET " + PATH + b" x HTTP/1.1"), "a space inside the target")
case(
    _t, "double-space", head(line=b"GET  " + PATH + b" HTTP/1.1"), "two spaces after the method (RFC 9112 §3)"
)
case(_t, "tab-separator", head(line=b"GET\t" + PATH + b" HTTP/1.1"), "a tab between method and target")
case(
    _t,
    "absolute-form-https",
    head(line=b"GET https://evil.example" + PATH + b" HTTP/1.1"),
    "the absolute form with https",
)
case(
    _t,
    "absolute-form-userinfo",
    head(line=b"GET http://a@evil.example" + PATH + b" HTTP/1.1"),
    "the absolute form with userinfo (RFC 9110 §4.2.4: deprecated)",
)
case(
    _t,
    "absolute-form-other-scheme",
    head(line=b"GET ftp://evil.example" + PATH + b" HTTP/1.1"),
    "the absolute form with another scheme",
)
case(
    _t,
    "overlong-line-16k",
    head(line=b"GET " + PATH + b"?" + b"q" * 16384 + b" HTTP/1.1"),
    "a 16 KiB request line: over nginx's large_client_header_buffers (8k), within Envoy's 60 KiB",
)
case(
    _t,
    "overlong-line-128k",
    head(line=b"GET " + PATH + b"?" + b"q" * 131072 + b" HTTP/1.1"),
    "a 128 KiB request line: over every server's limit",
)

# --- methods (RFC 9112 §3.1, RFC 9110 §9) ----------------------------------------------------------
_m = "method"
case(
    _m,
    "method-lower",
    head(line=b"get " + PATH + b" HTTP/1.1"),
    "methods are case-sensitive: `get` is not GET",
)
case(_m, "method-mixed", head(line=b"GeT " + PATH + b" HTTP/1.1"), "a mixed-case method")
case(_m, "method-unknown", head(line=b"FOO " + PATH + b" HTTP/1.1"), "an unregistered method (a valid token)")
case(
    _m,
    "method-post",
    head(b"Content-Length: 0", line=b"POST " + PATH + b" HTTP/1.1"),
    "POST (Envoy checks with the original method)",
)
case(_m, "method-trace", head(line=b"TRACE " + PATH + b" HTTP/1.1"), "TRACE (nginx: 405)")
case(_m, "method-bad-char", head(line=b"G(T " + PATH + b" HTTP/1.1"), "a method that is not a token")
case(_m, "leading-space", head(line=b" GET " + PATH + b" HTTP/1.1"), "whitespace before the method")

# --- versions (RFC 9112 §2.3) ---------------------------------------------------------------------
_v = "version"
case(_v, "http09", b"GET " + PATH + b"\r\n", "HTTP/0.9: a request line without a version")
case(_v, "http09-crlf", b"GET " + PATH + b"\r\n\r\n", "HTTP/0.9 followed by an empty line")
case(_v, "h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "the HTTP/2 preface on a plain HTTP/1.1 port")
case(_v, "version-12", head(line=b"GET " + PATH + b" HTTP/1.2"), "HTTP/1.2 (RFC 9110 §2.5: a higher minor)")
case(_v, "version-20", head(line=b"GET " + PATH + b" HTTP/2.0"), "HTTP/2.0 in an HTTP/1 request line")
case(_v, "version-lower", head(line=b"GET " + PATH + b" http/1.1"), "a lower-case protocol name")
case(_v, "version-leading-zero", head(line=b"GET " + PATH + b" HTTP/01.1"), "a two-digit major version")
case(_v, "version-trailing-space", head(line=b"GET " + PATH + b" HTTP/1.1 "), "a space after the version")

# --- Expect and Upgrade (RFC 9110 §10.1.1, §7.8; Bishop Fox 2020) ------------------------------------
_u = "upgrade"
case(
    _u, "expect-unknown", head(b"Expect: something"), "RFC 9110 §10.1.1: an unknown expectation MAY be a 417"
)
case(_u, "expect-100-no-body", head(b"Expect: 100-continue"), "Expect: 100-continue without a body")
case(
    _u,
    "h2c-upgrade",
    head(
        b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"
    ),
    "h2c smuggling (Bishop Fox 2020): an upgrade to cleartext HTTP/2 on a check",
)
case(
    _u,
    "h2c-upgrade-no-connection",
    head(b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
    "Upgrade: h2c without Connection: upgrade (not an upgrade request)",
)
case(
    _u,
    "websocket-upgrade",
    head(
        b"Connection: Upgrade",
        b"Upgrade: websocket",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ),
    "a websocket upgrade to the check path",
)
case(
    _u,
    "upgrade-unknown",
    head(b"Connection: Upgrade", b"Upgrade: foo/1"),
    "an upgrade to an unknown protocol",
)

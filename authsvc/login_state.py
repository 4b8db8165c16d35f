"""Bounds on what unfinished logins leave behind: login-state cookies.

**Login-state cookies.** Each `/oauth2/start` sets its own `<cookie_name>_csrf_<hash>` cookie
(so two tabs can log in at once), living `cookie_csrf_expire`. Uncapped, a page with 30
`<img src=/oauth2/start>` pushed the Cookie header past nginx's 8 KB line and the whole site
answered 400 until they expired. So a start keeps at most `cookie_csrf_per_request_limit`
login cookies (oauth2-proxy's option), the new one included, and expires the older ones in the
same response. Oldest means first in the Cookie header: browsers list cookies of equal path by
creation time (RFC 6265 §5.4, step 2), and every login cookie has the same path. They also stay
within `LOGIN_COOKIE_BYTES` together, so long `rd` values cannot do what many cookies did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

#: what all login cookies together may add to the Cookie header: a 4 KB session cookie, these
#: and some of the application's own still fit nginx's default 8 KB header line
LOGIN_COOKIE_BYTES = 3072


def crowded_out(
    jar: Mapping[str, str],
    is_login: Callable[[str], bool],
    keep: int,
    new_size: int,
    budget: int = LOGIN_COOKIE_BYTES,
) -> list[str]:
    """The login cookies (names `is_login` accepts) to expire next to a new one.

    `jar` is the request's cookies in Cookie header order (oldest first); `new_size` is the
    length of the new cookie's `name=value`. The newest ones are kept while, with the new
    one, there are at most `keep` and they take at most `budget` bytes; all older ones go.
    """
    names = [name for name in jar if is_login(name)]
    count, room = 1, budget - new_size
    out: list[str] = []
    for name in reversed(names):
        size = len(name) + len(jar[name]) + 3  # "; " and "="
        if out or count >= keep or size > room:
            out.append(name)
            continue
        count, room = count + 1, room - size
    return out

"""oauth2-proxy's own documented proxy configurations, reproduced for the attack tests.

Issue 11 §1: the default must be safe behind the configurations oauth2-proxy users already run,
not only behind ours. These are the auth-relevant directives of the integration pages in
oauth2-proxy/oauth2-proxy, `docs/docs/configuration/integrations/` (read at commit 0524a207 for
nginx.md, 1868c9e6 for caddy.md, 002a8468 for traefik.md), adapted only to run on loopback: TLS,
server names and the multi-part-cookie workaround are left out (they do not change which headers
reach the auth service), and oauth2-proxy's address is authsvc's.
"""

from __future__ import annotations

from typing import Any

#: nginx.md, "Configuring for use with the Nginx auth_request directive": the auth location sets
#: Host, X-Real-IP and X-Forwarded-Uri and nothing else, so every other header the client sent
#: reaches the auth service (nginx passes them all to the subrequest).
NGINX_SERVER = """
server {{
    listen {listen};
    location /oauth2/ {{
        proxy_pass http://{authsvc};
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Auth-Request-Redirect $request_uri;
    }}
    location = /oauth2/auth {{
        proxy_pass http://{authsvc};
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-Uri $request_uri;
        proxy_set_header Content-Length "";
        proxy_pass_request_body off;
    }}
    location / {{
        auth_request /oauth2/auth;
        error_page 401 = @oauth2_signin;
        auth_request_set $user $upstream_http_x_auth_request_user;
        auth_request_set $email $upstream_http_x_auth_request_email;
        proxy_set_header X-User $user;
        proxy_set_header X-Email $email;
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        add_header Set-Cookie $auth_cookie;
        proxy_pass http://{upstream};
    }}
    location @oauth2_signin {{
        return 302 /oauth2/sign_in?rd=$scheme://$host$request_uri;
    }}
}}
"""

#: caddy.md, "Configuring for use with the Caddy (v2) forward_auth directive": forward_auth with
#: `uri /oauth2/auth` (no "?": Caddy keeps the client's query on the check) and X-Real-IP; a 401
#: is turned into a redirect to sign_in. One site per {listen}/{authsvc} pair.
CADDY_SITE = """
http://{listen} {{
	handle /oauth2/* {{
		reverse_proxy {authsvc} {{
			header_up X-Real-IP {{remote_host}}
			header_up X-Forwarded-Uri {{uri}}
		}}
	}}
	handle {{
		forward_auth {authsvc} {{
			uri /oauth2/auth
			header_up X-Real-IP {{remote_host}}
			@error status 401
			handle_response @error {{
				redir * /oauth2/sign_in?rd={{scheme}}://{{host}}{{uri}}
			}}
		}}
		reverse_proxy {upstream}
	}}
}}
"""

CADDY_GLOBAL = """
{
	admin off
	auto_https off
}
"""

#: nginx.md (ingress-nginx section) and ingress-nginx's own oauth-external-auth example: only
#: auth-url and auth-signin; ingress-nginx's template adds the auth location's headers.
INGRESS_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/auth-url": "http://{authsvc}/oauth2/auth",
    "nginx.ingress.kubernetes.io/auth-signin": "https://$host/oauth2/start?rd=$escaped_request_uri",
}



def traefik_dynamic(name: str, host: str, authsvc_url: str, upstream_url: str) -> dict[str, Any]:
    """traefik.md, "ForwardAuth with 401 errors middleware", for one host: forwardAuth with an
    address only (trustForwardHeader unset: Traefik overwrites X-Forwarded-*) behind an errors
    middleware that shows sign_in on 401-403, and a router for /oauth2/ without them."""
    return {"http": {
        "routers": {
            f"{name}-app": {"rule": f"Host(`{host}`)", "entryPoints": ["web"],
                            "service": f"{name}-app", "middlewares": [f"{name}-errors", f"{name}-auth"]},
            f"{name}-oauth": {"rule": f"Host(`{host}`) && PathPrefix(`/oauth2/`)",
                              "entryPoints": ["web"], "service": f"{name}-oauth"},
        },
        "middlewares": {
            f"{name}-auth": {"forwardAuth": {"address": f"{authsvc_url}/oauth2/auth"}},
            f"{name}-errors": {"errors": {"status": ["401-403"], "service": f"{name}-oauth",
                                          "query": "/oauth2/sign_in?rd={url}"}},
        },
        "services": {
            f"{name}-app": {"loadBalancer": {"servers": [{"url": upstream_url}]}},
            f"{name}-oauth": {"loadBalancer": {"servers": [{"url": authsvc_url}]}},
        },
    }}

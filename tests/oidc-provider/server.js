// A real OpenID provider (the certified npm `oidc-provider`) for authsvc's integration tests.
//
//   node server.js --port 9000 --issuer http://127.0.0.1:9000
//
// Everything else comes from the environment (all optional):
//   CLIENT_ID, CLIENT_SECRET          the one confidential client (default authsvc / authsvc-secret)
//   REDIRECT_URIS                     comma-separated; default http://127.0.0.1/oauth2/callback
//   POST_LOGOUT_REDIRECT_URIS         comma-separated; default http://127.0.0.1/
//   APPLICATION_TYPE                  "native" (default) or "web". A native client's loopback
//                                     redirect URIs match on any port (RFC 8252 section 7.3), so one
//                                     OP per test session serves every proxy's own port.
//   BACKCHANNEL_LOGOUT_URI            the client's back-channel logout endpoint, if any
//   WEB_REDIRECT_URIS                 comma-separated: adds a second, "web" client
//                                     (CLIENT_ID + "-web", same secret) whose redirect URIs match
//                                     exactly, for apps on a non-loopback name (app.example.com)
//   ACCESS_TOKEN_TTL, ID_TOKEN_TTL    seconds (default 3600), short values let tests force refresh
//   CLIENT_CREDENTIALS_TTL            seconds a client-credentials token lives (default 3600)
//   CLIENT_JWKS                       the client's public JWKS (JSON): it then authenticates with
//                                     private_key_jwt (OIDC Core 9) only, and has no secret
//
// Machines (client credentials, for API-client tests): client "machine" / "machine-secret"
// and "machine-2" / "machine-secret" get opaque access tokens, or RFC 9068 JWTs (typ at+jwt,
// audience = the resource) when they ask for `resource=https://api.test/` (RFC 8707). Scopes
// "read" and "write" may be asked for. They may revoke their own tokens (/token/revocation);
// the main client may introspect any token (/token/introspection). A token request with a
// DPoP proof (RFC 9449) gets a DPoP-bound token (cnf.jkt).
//
// Users (the development login form takes any password; the login name picks the account):
//   alice@example.com       groups admins,devs, e-mail verified
//   mallory@evil.example    another domain
//   unverified@example.com  email_verified = false
//   many@example.com        200 groups, so the session cookie exceeds 4 KB
//   nogroups@example.com    no groups at all
// Prints READY on stdout once it listens.

import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '9000' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    issuer: { type: 'string', default: process.env.ISSUER ?? '' },
  },
});
const port = Number(args.port);
const issuer = args.issuer || `http://${args.host}:${port}`;
const list = (value, fallback) => (value ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);

// hash-like names, so the session does not compress below 4 KB
const many = Array.from(
  { length: 200 },
  (_, i) => `g${String(i).padStart(3, '0')}-${createHash('sha256').update(`group-${i}`).digest('base64url').slice(0, 20)}`,
);
const USERS = {
  'alice@example.com': { verified: true, groups: ['admins', 'devs'], name: 'Alice Example' },
  'mallory@evil.example': { verified: true, groups: ['devs'], name: 'Mallory Evil' },
  'unverified@example.com': { verified: false, groups: ['devs'], name: 'Un Verified' },
  'many@example.com': { verified: true, groups: many, name: 'Many Groups' },
  'nogroups@example.com': { verified: true, groups: [], name: 'No Groups' },
};

const client = {
  client_id: process.env.CLIENT_ID ?? 'authsvc',
  client_secret: process.env.CLIENT_SECRET ?? 'authsvc-secret',
  application_type: process.env.APPLICATION_TYPE ?? 'native',
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: list(process.env.REDIRECT_URIS, 'http://127.0.0.1/oauth2/callback'),
  post_logout_redirect_uris: list(process.env.POST_LOGOUT_REDIRECT_URIS, 'http://127.0.0.1/'),
};
if (process.env.CLIENT_JWKS) {
  client.token_endpoint_auth_method = 'private_key_jwt';
  client.jwks = JSON.parse(process.env.CLIENT_JWKS);
  delete client.client_secret;
}
if (process.env.BACKCHANNEL_LOGOUT_URI) {
  client.backchannel_logout_uri = process.env.BACKCHANNEL_LOGOUT_URI;
  client.backchannel_logout_session_required = true;
}

// A native client is always asked for consent; this first-party test client never is.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const clients = [client];
if (process.env.WEB_REDIRECT_URIS) {
  clients.push({
    ...client,
    client_id: `${client.client_id}-web`,
    application_type: 'web',
    redirect_uris: list(process.env.WEB_REDIRECT_URIS, ''),
    post_logout_redirect_uris: [],
  });
}

for (const id of ['machine', 'machine-2']) {
  clients.push({
    client_id: id,
    client_secret: 'machine-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'read write',
  });
}
const API_RESOURCE = 'https://api.test/';

const configuration = {
  clients,
  interactions: { policy },
  // fixed keys: this OP only ever runs on loopback inside the test suite
  cookies: { keys: ['authsvc-test-op-cookie-key-1'] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'read', 'write'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    // groups ride along with "profile" too, so authsvc's default scope already carries them
    profile: ['name', 'preferred_username', 'groups'],
    groups: ['groups'],
  },
  // put the scope's claims in the ID token too (authsvc reads identity from the ID token)
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: id,
          email_verified: user.verified,
          name: user.name,
          preferred_username: id.split('@')[0],
          groups: user.groups,
        };
      },
    };
  },
  // first-party client: grant every requested scope and claim, so there is no consent screen
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const found = await ctx.oidc.provider.Grant.find(grantId);
      if (found) return found;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid offline_access email profile groups');
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', 'groups']);
    await grant.save();
    return grant;
  },
  // refresh tokens for the confidential client whether or not offline_access was asked for
  async issueRefreshToken(_ctx, rpClient) {
    return rpClient.grantTypeAllowed('refresh_token');
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: Number(process.env.ACCESS_TOKEN_TTL ?? 3600),
    IdToken: Number(process.env.ID_TOKEN_TTL ?? 3600),
    RefreshToken: 24 * 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
    Interaction: 3600,
    AuthorizationCode: 60,
    ClientCredentials: Number(process.env.CLIENT_CREDENTIALS_TTL ?? 3600),
  },
  // RPs here live on loopback too: oidc-provider's SSRF guard would refuse its back-channel
  // logout calls to them ("hostname resolves to a special-use IP address")
  fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    // RFC 9449: a token request with a DPoP proof gets a token bound to its key (cnf.jkt)
    dPoP: { enabled: true },
    // only a client-credentials request naming API_RESOURCE gets a JWT; everything else is
    // as before (no resource: opaque tokens, as the login flow has always had)
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource !== API_RESOURCE) throw new errors.InvalidTarget();
        return { scope: 'read write', audience: API_RESOURCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(port, args.host, () => {
  console.log(`READY ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// The console's only way to the platform: the public /api/v1 API, with the user's token.
//
// Tokens: the access token (15 minutes) and the refresh token are kept in the
// browser's localStorage under one key, so that moving between pages and tabs
// does not sign out, and every tab shares one refresh token (the gateway
// rotates refresh tokens and treats a spent one presented again as theft: two
// tabs refreshing one token would sign each other out). A refresh runs under a
// Web Lock: one tab refreshes, the others read its result. The strict CSP (no
// inline script, scripts from this origin only) is what guards this storage;
// see docs/console/README.md.

const BASE = "/api/v1";
const SESSION_KEY = "clientele.console.session";
// Refresh this long before the access token expires, so no request carries a dying token.
const EXPIRY_MARGIN_MS = 30_000;

export class ApiError extends Error {
  constructor(status, problem) {
    const title = (problem && problem.title) || statusTitle(status);
    super(problem && problem.detail ? `${title}: ${problem.detail}` : title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = (problem && problem.detail) || "";
    this.problem = problem || {};
    // field name -> [messages], from a 422's problem "errors" list.
    this.fieldErrors = {};
    const errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
    for (const entry of errors) {
      const field = String(entry.field || "");
      const message = String(entry.message || entry.detail || "is invalid");
      (this.fieldErrors[field] ||= []).push(message);
    }
  }
}

function statusTitle(status) {
  const titles = {
    0: "The platform could not be reached",
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    412: "Changed by someone else",
    413: "Too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
  };
  return titles[status] || `Request failed (${status})`;
}

function readSession() {
  try {
    const session = JSON.parse(window.localStorage.getItem(SESSION_KEY) || "null");
    return session && session.refresh ? session : null;
  } catch {
    return null;
  }
}

function storeTokens(tokens) {
  const session = {
    access: tokens.access_token,
    accessExpires: Date.now() + Number(tokens.expires_in || 0) * 1000,
    refresh: tokens.refresh_token,
  };
  window.localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

function forgetSession() {
  window.localStorage.removeItem(SESSION_KEY);
  meCache = null;
}

/** Whether a session (a refresh token) is held. */
export function signedIn() {
  return readSession() !== null;
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return null;
}

async function postJson(path, body) {
  let response;
  try {
    response = await fetch(BASE + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { title: statusTitle(0), detail: String(error.message || error) });
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.status === 204 ? null : response.json();
}

/** Sign in with a username and password; throws ApiError (401) on bad credentials. */
export async function signIn(username, password) {
  const tokens = await postJson("/auth/token", { username, password });
  meCache = null;
  storeTokens(tokens);
}

// Set once signing out has begun: the shell is about to leave for /login, so a page still
// drawing gets no answer rather than a detour to /login?next=.
let leaving = false;

/** Sign out: the refresh token's family is revoked at the gateway, then forgotten here. */
export async function signOut() {
  const session = readSession();
  leaving = true;
  forgetSession();
  if (session) {
    try {
      await postJson("/auth/logout", { refresh_token: session.refresh });
    } catch {
      // Forgotten locally whatever the gateway answered: the user asked to leave.
    }
  }
}

async function refreshUnderLock(spent) {
  const current = readSession();
  if (!current) throw new ApiError(401, { title: "Not signed in", detail: "Please sign in." });
  // Another tab refreshed while this one waited for the lock: use its tokens.
  if (current.access !== spent) return current;
  try {
    return storeTokens(await postJson("/auth/refresh", { refresh_token: current.refresh }));
  } catch (error) {
    if (error.status === 401 || error.status === 400 || error.status === 422) forgetSession();
    throw error;
  }
}

let refreshing = null;

// Trade the refresh token for new tokens once, whatever the number of callers or tabs.
function refreshTokens(spent) {
  if (!refreshing) {
    const run = () => refreshUnderLock(spent);
    const locked = navigator.locks
      ? navigator.locks.request("clientele.console.refresh", run)
      : run();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function accessToken() {
  const session = readSession();
  if (!session) return null;
  if (!session.access || Date.now() > session.accessExpires - EXPIRY_MARGIN_MS) {
    return (await refreshTokens(session.access)).access;
  }
  return session.access;
}

function url(path, params) {
  const target = new URL(BASE + path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const one of values) {
      if (one !== undefined && one !== null && one !== "") target.searchParams.append(name, one);
    }
  }
  return target.pathname + target.search;
}

/**
 * fetch() against /api/v1 with the bearer token; refreshes silently once on 401.
 * Returns the Response whatever its status (options: params, body, headers, signal).
 */
async function fetchWithToken(method, path, options = {}) {
  const send = async (token) => {
    const headers = new Headers(options.headers || {});
    if (token) headers.set("Authorization", `Bearer ${token}`);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    let body = options.body;
    if (body !== undefined && !(typeof body === "string") && !(body instanceof Blob)) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(body);
    }
    try {
      return await fetch(url(path, options.params), {
        method,
        headers,
        body,
        credentials: "omit",
        cache: "no-store",
        signal: options.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, { title: statusTitle(0), detail: String(error.message || error) });
    }
  };
  const token = await accessToken();
  // No session: signed out while the page was still drawing (or never signed in). A request
  // without a token can only be refused; the page is leaving for /login instead.
  if (!token) return leaving ? new Promise(() => {}) : toSignIn();
  let response = await send(token);
  if (response.status === 401) {
    const session = await refreshTokens(token).catch(() => null);
    if (session) response = await send(session.access);
    else if (!signedIn()) toSignIn(); // the refresh token was refused: the session is over
  }
  return response;
}

async function parse(response) {
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const api = {
  /** GET path?params -> parsed JSON; throws ApiError. */
  async get(path, params) {
    return parse(await fetchWithToken("GET", path, { params }));
  },
  /** method path with a JSON body (and extra headers) -> parsed JSON or null; throws ApiError. */
  async send(method, path, body, headers) {
    return parse(await fetchWithToken(method, path, { body, headers }));
  },
  /** The Response itself, for headers (ETag) or non-JSON bodies; throws ApiError if not 2xx. */
  async raw(method, path, options = {}) {
    const response = await fetchWithToken(method, path, options);
    if (!response.ok && !options.allowError) {
      throw new ApiError(response.status, await problemOf(response));
    }
    return response;
  },
};

let meCache = null;

/** The signed-in user (GET /auth/me, once per page): {id, username, role, scopes, allowed}. */
export function me() {
  if (!meCache) {
    meCache = api.get("/auth/me").catch((error) => {
      meCache = null;
      throw error;
    });
  }
  return meCache;
}

/** Whether the signed-in user holds ``scope`` (false until me() has answered). */
export function can(scope) {
  return Boolean(currentUser && currentUser.scopes && currentUser.scopes.includes(scope));
}

let currentUser = null;

/** me(), remembered for can(); every page awaits this once before drawing. */
export async function loadUser() {
  currentUser = await me();
  return currentUser;
}

/** Redirect to /login?next=<this page> unless signed in; resolves to the user otherwise. */
export async function requireSignIn() {
  if (!signedIn()) return toSignIn();
  try {
    return await loadUser();
  } catch (error) {
    if (error.status === 401) {
      forgetSession();
      return toSignIn();
    }
    throw error;
  }
}

// Off to /login, to come back here after; never settles (the page is leaving).
function toSignIn() {
  const next = window.location.pathname + window.location.search;
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
  return new Promise(() => {});
}

// @ts-check
/**
 * The officer's token: taken from `#token=…` or the sign-in form, kept in this tab's sessionStorage only (never a
 * cookie, never in a URL the server sees). Its claims are read here without verifying the signature, only to decide
 * whether to show the console at all; the API verifies every call and a 401 signs the officer out.
 */

const KEY = 'compliance-console.token';
const JWT = /^[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/;

/**
 * @typedef {{ sub: string, roles: string[], exp: number }} Claims
 */

/**
 * The claims of a token, or why the console will not use it.
 * @param {string} token
 * @param {number} nowSeconds
 * @returns {{ claims: Claims } | { problem: string }}
 */
export function readToken(token, nowSeconds) {
  const match = JWT.exec(token);
  if (!match) return { problem: 'This is not a token (a JWT has three dot-separated parts).' };
  /** @type {unknown} */
  let payload;
  try {
    const base64 = match[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    payload = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { problem: 'The token cannot be read.' };
  }
  if (typeof payload !== 'object' || payload === null) return { problem: 'The token cannot be read.' };
  const { sub, roles, exp } = /** @type {Record<string, unknown>} */ (payload);
  if (!Array.isArray(roles) || !roles.includes('compliance')) return { problem: 'This token does not carry the compliance role.' };
  if (typeof exp !== 'number' || exp <= nowSeconds) return { problem: 'This token has expired.' };
  return { claims: { sub: typeof sub === 'string' ? sub : '(unnamed)', roles, exp } };
}

/**
 * A token passed as `#token=…`, removed from the address bar and the history entry at once so that it is not left in
 * the URL (bookmarks, screen shares). The fragment never reaches the server.
 * @returns {string | null}
 */
export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return token && token.trim() ? token.trim() : null;
}

/** @returns {string | null} */
export const storedToken = () => sessionStorage.getItem(KEY);

/** @param {string} token */
export const storeToken = (token) => sessionStorage.setItem(KEY, token);

export const forgetToken = () => sessionStorage.removeItem(KEY);

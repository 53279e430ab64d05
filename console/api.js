// @ts-check
/**
 * The compliance API, called with the officer's token in the Authorization header only (never in a URL, so it cannot
 * end up in a proxy's log, the history or a Referer). Failures become ApiError with the problem+json detail.
 */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} title
   * @param {string} detail
   * @param {string | undefined} instance
   */
  constructor(status, title, detail, instance) {
    super(`${title} (${status})${detail ? `: ${detail}` : ''}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.instance = instance;
  }

  /** What the console shows: the problem's title, detail, field errors and the request id to quote. */
  toDisplay() {
    return [`${this.title} (HTTP ${this.status})`, this.detail, this.instance ? `Request id: ${this.instance}` : '']
      .filter(Boolean)
      .join('\n');
  }
}

/**
 * @param {Record<string, string | undefined>} params
 * @returns {string}
 */
export function queryOf(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') query.set(key, value);
  const text = query.toString();
  return text ? `?${text}` : '';
}

/**
 * @param {Response} res
 * @returns {Promise<ApiError>}
 */
async function errorOf(res) {
  let problem = /** @type {Record<string, unknown>} */ ({});
  try {
    if (/json/.test(res.headers.get('content-type') ?? '')) problem = await res.json();
  } catch {
    // Not JSON after all: the status says enough.
  }
  const fields = Array.isArray(problem.errors) ? problem.errors.map((e) => `${e?.field ?? '?'}: ${e?.message ?? ''}`).join('\n') : '';
  const detail = [typeof problem.detail === 'string' ? problem.detail : '', fields].filter(Boolean).join('\n');
  const title = typeof problem.title === 'string' ? problem.title : res.statusText || 'Request failed';
  return new ApiError(res.status, title, detail, typeof problem.instance === 'string' ? problem.instance : undefined);
}

/**
 * @param {string} token
 * @param {string} path
 * @param {string} accept
 */
async function call(token, path, accept) {
  let res;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${token}`, accept }, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'The gateway cannot be reached', 'Check the connection and try again.', undefined);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

/**
 * @param {string} token
 * @param {string} path
 * @returns {Promise<any>}
 */
export async function getJson(token, path) {
  return (await call(token, path, 'application/json')).json();
}

/**
 * Downloads an export: fetched with the header, saved from a Blob (a plain link could not carry the token).
 * @param {string} token
 * @param {string} path
 * @returns {Promise<{ filename: string, size: number }>}
 */
export async function download(token, path) {
  const res = await call(token, path, '*/*');
  const blob = await res.blob();
  const named = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '');
  const filename = named ? named[1] : 'audit-events';
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started from the object URL; release it once the browser has taken it.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { filename, size: blob.size };
}

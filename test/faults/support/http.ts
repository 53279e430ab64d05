import { NestFastifyApplication } from '@nestjs/platform-fastify';

/** One answer over a real socket. `hung` is set when no answer came within the client's timeout. */
export interface Answer {
  status: number;
  headers: Headers;
  body: string;
  json(): any;
}

export class NoAnswer extends Error {}

/**
 * One HTTP request to a gateway process. A request the gateway does not answer within `timeoutMs` is a hang and
 * fails the case (NoAnswer); a refused or reset connection is an error too.
 */
export async function send(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | object; timeoutMs?: number } = {},
): Promise<Answer> {
  const { headers = {}, body, timeoutMs = 15_000 } = opts;
  const text = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
  const contentType = body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {};
  let res: Response;
  try {
    res = await fetch(new URL(path, baseUrl), {
      method,
      headers: { ...contentType, ...headers },
      body: text,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new NoAnswer(`${method} ${path}: no answer within ${timeoutMs} ms`);
    throw error;
  }
  const answer = await res.text();
  return { status: res.status, headers: res.headers, body: answer, json: () => JSON.parse(answer) };
}

/**
 * The shape test/support's helpers drive (`inject(app, …)` on a NestFastifyApplication), answered by a gateway
 * process over a real socket, so the onboarding steps of referral-flow.ts are reused as they are.
 */
export function socketApp(baseUrl: string): NestFastifyApplication {
  const instance = {
    inject: async (opts: { method: string; url: string; headers?: Record<string, string>; payload?: string | object }) => {
      const res = await send(baseUrl, opts.method, opts.url, { headers: opts.headers, body: opts.payload });
      return { statusCode: res.status, body: res.body, headers: Object.fromEntries(res.headers), json: res.json };
    },
  };
  return { getHttpAdapter: () => ({ getInstance: () => instance }) } as unknown as NestFastifyApplication;
}

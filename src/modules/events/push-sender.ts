import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, LookupFunction } from 'node:net';

import { Injectable } from '@nestjs/common';

import { AppConfigService } from '../../infra/config/app-config';
import { isForbiddenAddress } from '../partners/push-endpoint.policy';

/** What one RFC 8935 push attempt came to. */
export type PushResult =
  /** Any 2xx (RFC 8935 says 202). */
  | { outcome: 'delivered' }
  /** 400 with RFC 8935 §2.4 `{ err, description }`: the bank received the SET and refused it; retrying cannot help. */
  | { outcome: 'rejected'; error: string }
  /** Anything else (other status, timeout, network error): try again later. */
  | { outcome: 'failed'; error: string }
  /** The endpoint resolves to an address a push must not reach (SSRF), or is not an acceptable URL. */
  | { outcome: 'refused'; error: string };

const MAX_RESPONSE_BYTES = 16 * 1024;

class ForbiddenAddressError extends Error {}

/**
 * Sends one SET to a partner's push endpoint. The address is checked again at send time (DNS can change after
 * registration) inside the socket's own lookup, so the address checked is the address connected to: a DNS answer
 * that changes between a check and the connect (rebinding) cannot slip through.
 */
@Injectable()
export class PushSender {
  constructor(private readonly config: AppConfigService) {}

  async send(endpoint: string, setJws: string): Promise<PushResult> {
    const allowPrivate = this.config.values.partners.allowPrivatePushEndpoints;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return { outcome: 'refused', error: 'push endpoint is not a URL' };
    }
    if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
      return { outcome: 'refused', error: 'push endpoint must use https' };
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Node skips the lookup for IP literals, so those are checked here.
    if (!allowPrivate && isIP(host) && isForbiddenAddress(host)) {
      return { outcome: 'refused', error: 'push endpoint address is not allowed (private, loopback or reserved)' };
    }
    try {
      const { status, body } = await this.post(url, setJws, allowPrivate ? undefined : guardedLookup);
      // RFC 8935 §2.2 answers 202, but a bank answering 200 or 204 has received the SET all the same: resending it
      // for a day would only fill its logs with duplicates.
      if (status >= 200 && status < 300) return { outcome: 'delivered' };
      if (status === 400) return { outcome: 'rejected', error: describeRejection(body) };
      return { outcome: 'failed', error: `HTTP ${status}` };
    } catch (error) {
      if (error instanceof ForbiddenAddressError) return { outcome: 'refused', error: error.message };
      return { outcome: 'failed', error: (error as Error).message || 'network error' };
    }
  }

  private post(url: URL, body: string, lookup: LookupFunction | undefined): Promise<{ status: number; body: string }> {
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/secevent+jwt',
            accept: 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          lookup,
          signal: AbortSignal.timeout(this.config.values.events.pushTimeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const done = () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8') });
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            size += chunk.length;
            // Enough to read a `{ err, description }`: an answer that goes on is cut here and judged by its status,
            // rather than holding the worker until the timeout (or for ever, with a slow trickle).
            if (size >= MAX_RESPONSE_BYTES) {
              done();
              res.destroy();
            }
          });
          res.on('end', done);
          res.on('error', reject);
        },
      );
      req.on('error', (error: Error & { cause?: unknown }) => {
        if (error.name === 'AbortError') reject(new Error('push timed out'));
        else reject(error.cause instanceof ForbiddenAddressError ? error.cause : error);
      });
      req.end(body);
    });
  }
}

/** A socket lookup that refuses any resolved address in a forbidden range. */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    const list = addresses as unknown as LookupAddress[];
    if (list.length === 0 || list.some((a) => isForbiddenAddress(a.address))) {
      return callback(
        new ForbiddenAddressError('push endpoint resolves to an address that is not allowed') as NodeJS.ErrnoException,
        '',
        0,
      );
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    return callback(null, list[0].address, list[0].family);
  });
};

/** The bank's `{ err, description }` as one bounded line (it is the bank's text, not personal data). */
function describeRejection(body: string): string {
  try {
    const parsed = JSON.parse(body) as { err?: unknown; description?: unknown };
    if (typeof parsed.err === 'string') {
      return `400 ${parsed.err}${typeof parsed.description === 'string' ? `: ${parsed.description}` : ''}`.slice(0, 500);
    }
  } catch {
    // not JSON: fall through
  }
  return 'HTTP 400';
}

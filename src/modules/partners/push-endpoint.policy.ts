import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

import { Injectable } from '@nestjs/common';

import { ValidationFailedError } from '../../common/errors';
import { AppConfigService } from '../../infra/config/app-config';

/**
 * Addresses a push must never reach (SSRF): unspecified, loopback, private, CGNAT, link-local, multicast and the
 * reserved, documentation and benchmarking ranges, for IPv4 and IPv6. IPv4 embedded in IPv6 (mapped, NAT64,
 * 6to4) is checked as the IPv4 it carries; the local-use NAT64 prefix is refused whole, since where it embeds the
 * IPv4 address depends on the operator's prefix length and it only ever leads into the operator's network.
 */
const FORBIDDEN = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", incl. unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  FORBIDDEN.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): translates to the operator's own IPv4 networks
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, benchmarking, ORCHID)
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  FORBIDDEN.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address carried inside an IPv6 one (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96, 2002::/16), if any. */
function embeddedIpv4(ipv6: string): string | undefined {
  const groups = expandIpv6(ipv6);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && (groups[5] === 0xffff || groups[5] === 0)) return v4(groups[6], groups[7]);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4(groups[6], groups[7]);
  if (groups[0] === 0x2002) return v4(groups[1], groups[2]);
  return undefined;
}

function expandIpv6(address: string): number[] | undefined {
  let text = address.split('%')[0].toLowerCase();
  const dotted = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  const groups = text.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill(0), ...t] : h;
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** True when `address` (an IP literal) is in a range a push must not reach. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return FORBIDDEN.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined && FORBIDDEN.check(v4, 'ipv4')) return true;
    return FORBIDDEN.check(address, 'ipv6');
  }
  return true; // not an IP address at all: refuse rather than guess
}

const LOOKUP_TIMEOUT_MS = 3000;

/**
 * Checks a partner's push endpoint against SSRF when it is registered: https only, no credentials in the URL, and
 * every address the host resolves to must be public. The push sender must check the address it connects to
 * again (DNS can change after registration); it can use isForbiddenAddress for that.
 */
@Injectable()
export class PushEndpointPolicy {
  constructor(private readonly config: AppConfigService) {}

  async assertAllowed(endpoint: string, field = 'pushEndpoint'): Promise<string> {
    const refuse = (message: string) => new ValidationFailedError([{ field, message }], 'The push endpoint is not acceptable');
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw refuse('must be an absolute URL');
    }
    if (url.username || url.password) throw refuse('must not carry credentials');
    if (url.hash) throw refuse('must not have a fragment');
    // Development may push to a local plain-http receiver; everywhere else the SSRF rules hold.
    if (this.config.values.partners.allowPrivatePushEndpoints) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('must be an http(s) URL');
      return url.toString();
    }
    if (url.protocol !== 'https:') throw refuse('must use https');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addresses = isIP(host) ? [host] : await this.resolve(host).catch(() => undefined);
    if (!addresses || addresses.length === 0) throw refuse('host does not resolve');
    if (addresses.some(isForbiddenAddress)) throw refuse('must not point to a private, loopback, link-local or reserved address');
    return url.toString();
  }

  private async resolve(host: string): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('DNS lookup timed out')), LOOKUP_TIMEOUT_MS);
    });
    try {
      const results = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
      return results.map((r) => r.address);
    } finally {
      clearTimeout(timer);
    }
  }
}

import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

import { AppConfigService } from '../../src/infra/config/app-config';
import { PushSender } from '../../src/modules/events/push-sender';

/** The send-time SSRF re-check: literal and resolved addresses are refused before any connection is made. */
describe('PushSender address re-check', () => {
  let server: Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(202).end());
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sender = (allowPrivatePushEndpoints: boolean) =>
    new PushSender({ values: { partners: { allowPrivatePushEndpoints }, events: { pushTimeoutMs: 2000 } } } as unknown as AppConfigService);

  it.each([
    ['an IP literal', () => `https://127.0.0.1:${port}/events`],
    ['a name resolving to loopback', () => `https://localhost:${port}/events`],
    ['plain http', () => `http://127.0.0.1:${port}/events`],
    ['a local-use NAT64 literal (64:ff9b:1::/48)', () => `https://[64:ff9b:1::a00:1]:${port}/events`],
  ])('refuses %s when private endpoints are not allowed', async (_label, endpoint) => {
    const before = connections;
    const result = await sender(false).send(endpoint(), 'a.b.c');
    expect(result.outcome).toBe('refused');
    expect(connections).toBe(before);
  });

  it('stops reading an endless answer after 16 KiB and goes by its status, well before the timeout', async () => {
    let closed = false;
    let sent = 0;
    const endless = createServer((_req, res) => {
      res.writeHead(202, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(4096, 'x');
      const pump = () => {
        while (!closed && res.write(chunk)) sent += chunk.length;
        if (!closed) res.once('drain', pump);
      };
      res.on('close', () => (closed = true));
      pump();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const slow = new PushSender({
        values: { partners: { allowPrivatePushEndpoints: true }, events: { pushTimeoutMs: 20_000 } },
      } as unknown as AppConfigService);
      const result = await slow.send(`http://127.0.0.1:${(endless.address() as AddressInfo).port}/events`, 'a.b.c');
      expect(result).toEqual({ outcome: 'delivered' });
      expect(Date.now() - started).toBeLessThan(3000);
      await new Promise<void>((resolve) => (closed ? resolve() : setTimeout(resolve, 200)));
      expect(closed).toBe(true); // the gateway hung up instead of draining the body
      expect(sent).toBeGreaterThan(16 * 1024);
    } finally {
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => resolve()));
    }
  });

  it('delivers to a local receiver when development allows private endpoints', async () => {
    expect(await sender(true).send(`http://127.0.0.1:${port}/events`, 'a.b.c')).toEqual({ outcome: 'delivered' });
  });
});

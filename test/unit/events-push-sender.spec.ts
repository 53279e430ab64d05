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
  ])('refuses %s when private endpoints are not allowed', async (_label, endpoint) => {
    const before = connections;
    const result = await sender(false).send(endpoint(), 'a.b.c');
    expect(result.outcome).toBe('refused');
    expect(connections).toBe(before);
  });

  it('delivers to a local receiver when development allows private endpoints', async () => {
    expect(await sender(true).send(`http://127.0.0.1:${port}/events`, 'a.b.c')).toEqual({ outcome: 'delivered' });
  });
});

import Fastify from 'fastify';

/** A bare Fastify JSON route in its own process: the HTTP ceiling of this machine and Node version. */
async function main() {
  const app = Fastify({ logger: false });
  app.get('/ping', async () => ({ ok: true, service: 'bare-fastify' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  process.send?.({ ready: true, port });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();

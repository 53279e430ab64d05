import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/** How a fake bank answers a push: 202, a status of its choosing, never, or 202 after a pause. */
export type PushBehaviour = { kind: 'accept' } | { kind: 'fail'; status: number } | { kind: 'hang' } | { kind: 'slow'; delayMs: number };

/** One push the bank received: when, which SET (its jti and txn claims), and how the exchange ended. */
export interface ReceivedPush {
  at: number;
  jti: string;
  txn: string;
  /** `answered` with the status sent; `released` when the gateway gave up (closed the socket) before any answer. */
  end?: { kind: 'answered'; status: number; at: number } | { kind: 'released'; at: number };
}

/**
 * An RFC 8935 push endpoint of a fake partner bank, on a loopback socket in the suite's own process, whose behaviour
 * a case sets (and may change while pushes arrive). It keeps every push it got, so a case reads attempts and their
 * times from the bank's side as well as from the gateway's rows. A hanging push stays open until the gateway drops it.
 */
export class PartnerEndpoint {
  readonly received: ReceivedPush[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    public behaviour: PushBehaviour,
  ) {}

  static async start(behaviour: PushBehaviour): Promise<PartnerEndpoint> {
    const server = createServer();
    const endpoint = new PartnerEndpoint(server, behaviour);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => endpoint.handle(req, res));
    server.on('connection', (socket) => {
      endpoint.sockets.add(socket);
      socket.once('close', () => endpoint.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return endpoint;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }

  /** Pushes of one SET (by txn: the referral's public id), in arrival order. */
  pushesOf(txn: string): ReceivedPush[] {
    return this.received.filter((p) => p.txn === txn);
  }

  /** Pushes still waiting for an answer (hanging, or slow and not yet answered). */
  get open(): ReceivedPush[] {
    return this.received.filter((p) => !p.end);
  }

  /** Closes the listener and drops every connection still open (a hanging push included). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const push: ReceivedPush = { at: Date.now(), ...claimsOf(Buffer.concat(chunks).toString('ascii')) };
      this.received.push(push);
      const answer = (status: number) => {
        if (push.end) return;
        push.end = { kind: 'answered', status, at: Date.now() };
        res.writeHead(status, { 'content-type': 'application/json' }).end(status === 202 ? '' : '{"err":"unavailable"}');
      };
      // The gateway closing the socket first (its push timeout) is how a hanging or too-slow push ends.
      res.once('close', () => {
        if (!push.end) push.end = { kind: 'released', at: Date.now() };
      });
      const b = this.behaviour;
      if (b.kind === 'accept') answer(202);
      else if (b.kind === 'fail') answer(b.status);
      else if (b.kind === 'slow') {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          answer(202);
        }, b.delayMs);
        this.timers.add(timer);
      }
      // 'hang': no answer at all.
    });
  }
}

/** The SET's jti and txn claims (the payload of a compact JWS; the signature is the gateway specs' business). */
function claimsOf(jws: string): { jti: string; txn: string } {
  try {
    const claims = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: unknown; txn?: unknown };
    return { jti: String(claims.jti ?? ''), txn: String(claims.txn ?? '') };
  } catch {
    return { jti: '', txn: '' };
  }
}

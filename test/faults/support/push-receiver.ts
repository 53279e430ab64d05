import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** One SET push as a bank's receiver got it. */
export interface ReceivedPush {
  jti: string;
  /** The SET (compact JWS) exactly as sent. */
  body: string;
}

/**
 * A partner bank's RFC 8935 receiver in the test process, on 127.0.0.1. Each push is recorded, then `beforeAnswer`
 * (if any) runs, then it is answered 202. The jti is read from the SET's payload without verifying it: the case
 * only needs to know which event a push carried.
 */
export class PushReceiver {
  readonly received: ReceivedPush[] = [];
  private server?: Server;

  constructor(private readonly beforeAnswer?: (push: ReceivedPush, index: number) => Promise<void>) {}

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const jti = String(JSON.parse(Buffer.from(body.split('.')[1] ?? '', 'base64url').toString() || '{}').jti);
        const push = { jti, body };
        const index = this.received.push(push) - 1;
        void (this.beforeAnswer?.(push, index) ?? Promise.resolve()).finally(() => {
          res.writeHead(202).end();
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

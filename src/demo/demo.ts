import { COMPLIANCE_STAGES } from './compliance-stages';
import { OVERDUE_STAGES } from './overdue-stages';
import { REFERRAL_STAGES } from './referral-stages';

/**
 * `npm run demo`: a guided walk through the gateway against a running api (DEMO_BASE_URL, default
 * http://localhost:3000). Each step of the project appends its stages to STAGES; a stage prints what it does.
 */

export interface DemoContext {
  baseUrl: string;
  /** Anything a stage leaves for the stages after it (ids, tokens). */
  state: Record<string, unknown>;
  log(line: string): void;
  /** JSON over HTTP against the gateway; a network failure throws GatewayUnreachable. */
  request(method: string, path: string, init?: { body?: unknown; headers?: Record<string, string> }): Promise<DemoResponse>;
}

export interface DemoResponse {
  status: number;
  body: unknown;
}

export interface DemoStage {
  title: string;
  run(ctx: DemoContext): Promise<void>;
}

/** Stopped the demo with an explanation for the person running it, not a stack trace. */
export class DemoStop extends Error {}

class GatewayUnreachable extends DemoStop {}

const checkReadiness: DemoStage = {
  title: 'Gateway health',
  async run(ctx) {
    const live = await ctx.request('GET', '/health/live');
    ctx.log(`GET /health/live  -> ${live.status}`);
    const ready = await ctx.request('GET', '/health/ready');
    const checks = (ready.body as { checks?: Record<string, string> } | undefined)?.checks ?? {};
    ctx.log(
      `GET /health/ready -> ${ready.status} (${Object.entries(checks)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );
    if (ready.status !== 200) {
      throw new DemoStop('the gateway runs but is not ready: start MySQL and Redis (see README "Running natively") and try again');
    }
  },
};

/** The demo, in order. Later steps insert their stages before compliance, which stays last. */
export const STAGES: DemoStage[] = [checkReadiness, ...REFERRAL_STAGES, ...OVERDUE_STAGES, ...COMPLIANCE_STAGES];

function createContext(baseUrl: string): DemoContext {
  return {
    baseUrl,
    state: {},
    log: (line) => console.log(`  ${line}`),
    async request(method, path, init = {}) {
      let res: Response;
      try {
        res = await fetch(new URL(path, baseUrl), {
          method,
          headers: { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
        throw new GatewayUnreachable(
          `no gateway answers at ${baseUrl} (${cause}).\n` +
            '  Start one with `docker compose up --build` or natively with `npm run build && npm run migration:run && npm start`,\n' +
            '  or point DEMO_BASE_URL at a running gateway.',
        );
      }
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // Not JSON (e.g. an HTML error page of a proxy): keep the text.
      }
      return { status: res.status, body };
    },
  };
}

export async function runDemo(baseUrl: string, stages: DemoStage[] = STAGES): Promise<number> {
  console.log(`Referral gateway demo against ${baseUrl}`);
  const ctx = createContext(baseUrl);
  for (const [i, stage] of stages.entries()) {
    console.log(`\n[${i + 1}/${stages.length}] ${stage.title}`);
    try {
      await stage.run(ctx);
    } catch (error) {
      if (error instanceof DemoStop) {
        console.error(`\nDemo stopped: ${error.message}`);
        return 1;
      }
      throw error;
    }
  }
  console.log('\nDemo finished.');
  return 0;
}

if (require.main === module) {
  runDemo(process.env.DEMO_BASE_URL ?? 'http://localhost:3000').then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(`Demo failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}

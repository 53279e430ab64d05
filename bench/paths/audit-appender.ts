import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';

import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/infra/config/load-config';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { runPool } from '../support/timing';

/**
 * One gateway process of the audit benchmark: a worker-role application (so its AuditChainPump chains, competing
 * with the other process's for the head lock) that, on "go", appends `count` entries through AuditWriter with
 * `concurrency` appends in flight, as that many concurrent requests would.
 */
async function main() {
  const config = loadConfig();
  const app = await NestFactory.createApplicationContext(AppModule.forRole('worker', config), { logger: false });
  await app.init();
  const writer = app.get(AuditWriter);
  const name = process.argv[2] ?? 'appender';
  process.on('message', async (m: { cmd: string; count?: number; concurrency?: number }) => {
    if (m.cmd === 'go') {
      const start = process.hrtime.bigint();
      await runPool(m.count!, m.concurrency!, (i) =>
        writer.append({
          actorType: 'partner',
          actorId: 'BENCH_BANK',
          action: 'partner_api.call',
          resourceType: 'referral',
          resourceId: `ref_${name}_${i}`,
          partnerCode: 'BENCH_BANK',
          requestId: `${name}-${i}`,
          clientIp: '127.0.0.1',
          outcome: 'SUCCESS',
          httpStatus: 200,
          details: { route: 'GET /partner/v1/referrals/:id' },
        }),
      );
      process.send?.({ appended: true, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
    } else if (m.cmd === 'stop') {
      await app.close();
      process.exit(0);
    }
  });
  process.send?.({ ready: true });
}

main().catch((error) => {
  console.error('audit appender failed:', error);
  process.exit(1);
});

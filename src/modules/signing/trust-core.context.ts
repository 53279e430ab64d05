import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { AppConfig } from '../../infra/config/app-config';
import { ConfigModule } from '../../infra/config/config.module';
import { CryptoModule } from '../../infra/crypto/crypto.module';
import { DatabaseModule } from '../../infra/database/database.module';
import { AuditModule } from '../audit/audit.module';
import { SigningModule } from './signing.module';

@Module({})
class TrustCoreModule {}

/**
 * Just the signing keys and the audit log over MySQL (no HTTP, no Redis, no job workers): what the `keys:*` and
 * `audit:*` CLI commands need. The caller closes it.
 */
export async function createTrustCoreContext(config: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(
    { module: TrustCoreModule, imports: [ConfigModule.forRoot(config), CryptoModule, DatabaseModule, AuditModule, SigningModule] },
    { logger: ['error', 'warn'] },
  );
  await app.init();
  return app;
}

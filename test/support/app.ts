import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { AppModule, ProcessRole } from '../../src/app.module';
import { AppConfig } from '../../src/infra/config/app-config';
import { loadConfig } from '../../src/infra/config/load-config';
import { createHttpApp } from '../../src/infra/http/http-app.factory';

/** The run's configuration (see global-setup), with optional environment overrides for one test. */
export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({ ...process.env, ...overrides });
}

/** An api (or all) role on the run's database and Redis; requests go through Fastify's inject, no socket. */
export async function startHttpApp(
  role: Exclude<ProcessRole, 'worker'> = 'api',
  overrides: Record<string, string> = {},
): Promise<NestFastifyApplication> {
  const config = testConfig(overrides);
  return createHttpApp(AppModule.forRole(role, config), config);
}

/** A worker role: BullMQ workers, outbox relay and sweeper. */
export async function startWorker(overrides: Record<string, string> = {}): Promise<INestApplicationContext> {
  const config = testConfig(overrides);
  const app = await NestFactory.createApplicationContext(AppModule.forRole('worker', config), { logger: false });
  await app.init();
  return app;
}

export const dataSourceOf = (app: INestApplicationContext) => app.get(DataSource);

/** Polls `check` until it returns a truthy value or the time runs out (no fixed sleeps in tests). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

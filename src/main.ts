import 'reflect-metadata';

import cluster from 'node:cluster';

import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import pino from 'pino';

import { AppModule, PROCESS_ROLES, ProcessRole } from './app.module';
import { ApiClusterSupervisor } from './infra/cluster/api-cluster.supervisor';
import { API_WORKER_SHUTDOWN_SIGNALS, prepareApiClusterWorker } from './infra/cluster/api-cluster.worker';
import { isApiClusterWorker } from './infra/cluster/cluster-metrics';
import { AppConfig } from './infra/config/app-config';
import { ConfigurationError, loadConfig } from './infra/config/load-config';
import { createHttpApp } from './infra/http/http-app.factory';

/**
 * A stop still running this long after SIGTERM exits anyway. Every shutdown hook is bounded where the gateway can bound
 * it (the outbox and schedule loops, the BullMQ workers and queues when Redis is silent), but a library waiting on a
 * server that does not answer must not keep a stopped process alive until the orchestrator's SIGKILL (Docker's
 * default: 10 s): exiting first says why, and nothing is lost (work in flight is retried from MySQL).
 */
const SHUTDOWN_DEADLINE_MS = 8_000;

function armShutdownDeadline(role: ProcessRole) {
  process.once('SIGTERM', () => {
    setTimeout(() => {
      console.error(`${role}: shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms of SIGTERM; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  });
}

/** Starts the gateway in one role: `node dist/src/main.js api|worker|all` (or PROCESS_ROLE). */
export async function start(role: ProcessRole, config: AppConfig) {
  process.env.PROCESS_ROLE = role;
  if (role === 'worker') {
    const app = await NestFactory.createApplicationContext(AppModule.forRole(role, config), { bufferLogs: true });
    app.useLogger(app.get(Logger));
    app.enableShutdownHooks();
    await app.init();
    return app;
  }
  const app = await createHttpApp(AppModule.forRole(role, config), config);
  app.enableShutdownHooks(isApiClusterWorker() ? API_WORKER_SHUTDOWN_SIGNALS : []);
  await app.listen({ port: config.port, host: '0.0.0.0' });
  return app;
}

async function main() {
  const role = (process.argv[2] ?? process.env.PROCESS_ROLE ?? 'all') as ProcessRole;
  if (!PROCESS_ROLES.includes(role)) {
    console.error(`Unknown process role "${role}"; expected one of ${PROCESS_ROLES.join(', ')}`);
    process.exit(2);
  }
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigurationError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  // API_PROCESSES > 1: this process becomes the cluster's primary (no HTTP), and each worker it forks runs this
  // same file and starts the api role below. The worker and all roles always run as one process.
  if (role === 'api' && config.apiProcesses > 1) {
    if (cluster.isPrimary) {
      const logger = pino({ level: config.logLevel, base: { pid: process.pid, role: 'api', process: 'cluster-primary' } });
      process.exit(await new ApiClusterSupervisor({ processes: config.apiProcesses, logger }).run());
    }
    prepareApiClusterWorker();
  }
  armShutdownDeadline(role);
  await start(role, config);
}

if (require.main === module) {
  main().catch((error) => {
    console.error('start-up failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
}

import { RouteConfig } from '@nestjs/platform-fastify';

export const BODY_LIMIT = 1024 * 1024;
export const BULK_BODY_LIMIT = 10 * 1024 * 1024;

/** Marks a route as a bulk endpoint (NDJSON or JSON array), which accepts bodies up to 10 MiB instead of 1 MiB. */
export const BulkBody = () => RouteConfig({ bulkBody: true });

export const isBulkRoute = (config: unknown): boolean => !!(config as { bulkBody?: boolean } | undefined)?.bulkBody;

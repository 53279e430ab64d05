import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppConfig } from '../config/app-config';

/** Placeholder: OpenAPI 3 at /docs and /docs-json. */
export function setupOpenApi(_app: NestFastifyApplication, _config: AppConfig): void {}

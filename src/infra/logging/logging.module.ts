import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';

import { AppConfigService } from '../config/app-config';
import { serializeError } from './error-serializer';

/**
 * Structured JSON logs with the request id on every line. Identity fields and credentials are redacted
 * wherever they appear, as a second line of defence behind "never log PII"; database errors lose their statement's
 * values (error-serializer.ts).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body',
  '*.name',
  '*.nationalId',
  '*.phone',
  '*.identity',
  '*.client_assertion',
  '*.access_token',
  '*.password',
  '*.secret',
  '*.privateKey',
];

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfigService],
      useFactory: (config: AppConfigService) => ({
        pinoHttp: {
          level: config.values.logLevel,
          redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
          // The request id was chosen by Fastify's genReqId (see http-app.factory.ts) and stored on the raw request.
          genReqId: (req) => (req as { id?: string }).id ?? 'unknown',
          customProps: () => ({ role: process.env.PROCESS_ROLE }),
          serializers: {
            req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
            err: serializeError,
          },
          autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') || req.url === '/metrics' },
        },
      }),
    }),
  ],
})
export class LoggingModule {}

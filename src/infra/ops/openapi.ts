import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

import { AppConfig } from '../config/app-config';

export const OPENAPI_TITLE = 'Referral gateway';

/**
 * OpenAPI 3 generated from the controllers' decorators: Swagger UI at /docs, the document at /docs-json.
 * The document is built on first request, once every module has registered its routes.
 */
export function setupOpenApi(app: NestFastifyApplication, config: AppConfig): void {
  const document = new DocumentBuilder()
    .setTitle(OPENAPI_TITLE)
    .setDescription(
      'Bank-partner referral gateway: partner banks fetch signed referral files and post decisions; the platform ' +
        'pushes credit records; applicants consent and follow their applications; compliance audits every disclosure.',
    )
    .setVersion('v1')
    .addServer(config.publicBaseUrl)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, document), {
    jsonDocumentUrl: 'docs-json',
    raw: ['json'],
  });
}

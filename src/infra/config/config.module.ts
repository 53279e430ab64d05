import { Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';
import { AppConfigService } from './app-config';

/** Provides the configuration validated at start-up (see loadConfig) to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(values: AppConfig) {
    return {
      module: ConfigModule,
      providers: [{ provide: AppConfigService, useValue: { values } satisfies AppConfigService }],
      exports: [AppConfigService],
    };
  }
}

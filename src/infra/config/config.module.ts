import { Global, Module } from '@nestjs/common';

import { AppConfig, AppConfigService } from './app-config';
import { PROCESS_ROLE, ProcessRole } from './process-role';

/** Provides the configuration validated at start-up (see loadConfig) and the process role to every module. */
@Global()
@Module({})
export class ConfigModule {
  /** CLI contexts pass no role: like the api role they start no background work. */
  static forRoot(values: AppConfig, role: ProcessRole = 'api') {
    return {
      module: ConfigModule,
      providers: [
        { provide: AppConfigService, useValue: { values } satisfies AppConfigService },
        { provide: PROCESS_ROLE, useValue: role },
      ],
      exports: [AppConfigService, PROCESS_ROLE],
    };
  }
}

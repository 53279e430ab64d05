import { Module } from '@nestjs/common';

import { ExclusionFactsRepository } from './exclusion-facts.repository';

/**
 * The criteria engine's one injectable (the rest are pure functions, see index.ts). Imported by the
 * pre-screening module; not in BUSINESS_MODULES on its own.
 */
@Module({ providers: [ExclusionFactsRepository], exports: [ExclusionFactsRepository] })
export class CriteriaModule {}

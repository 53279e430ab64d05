import { Module } from '@nestjs/common';

/** Placeholder: health, metrics, Bull Board. */
@Module({})
export class OpsModule {}

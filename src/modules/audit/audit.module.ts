import { Global, Module } from '@nestjs/common';

import { AuditRepository } from './audit.repository';
import { AuditWriter } from './audit.writer';
import { AuditArchiveProcessor } from './audit-archive.processor';
import { AuditArchiveRepository } from './audit-archive.repository';
import { AuditArchiver } from './audit-archiver.service';
import { AuditChainPump } from './audit-chain.pump';
import { AuditChainer } from './audit-chainer.service';
import { AuditCheckpointer } from './audit-checkpoint.service';
import { AuditVerifier } from './audit-verifier.service';

/** The hash-chained audit log. Global: every module records through AuditWriter. */
@Global()
@Module({
  providers: [
    AuditRepository,
    AuditWriter,
    AuditChainer,
    AuditChainPump,
    AuditCheckpointer,
    AuditVerifier,
    AuditArchiveRepository,
    AuditArchiver,
    AuditArchiveProcessor,
  ],
  exports: [AuditWriter, AuditRepository, AuditChainer, AuditCheckpointer, AuditVerifier, AuditArchiver],
})
export class AuditModule {}

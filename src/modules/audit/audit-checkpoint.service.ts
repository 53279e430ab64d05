import { Injectable } from '@nestjs/common';

import { JobHandler } from '../../infra/queues/job-handler.decorator';
import { SigningService } from '../signing/signing.service';
import { AuditRepository } from './audit.repository';

/** The audience of checkpoint tokens: they are addressed to the gateway's own audit verifier, no partner. */
export const CHECKPOINT_AUDIENCE = 'urn:referral-gateway:audit-chain';
/**
 * A checkpoint is a statement about the past and is verified with `ignoreExpiration`; its exp only bounds how
 * long its key must stay in the public JWKS for anyone checking it from outside.
 */
export const CHECKPOINT_TTL_SECONDS = 7 * 24 * 3600;

/** Periodically signs the chain head, so that rewriting the chain (hashes included) is detectable. */
@Injectable()
export class AuditCheckpointer {
  constructor(
    private readonly repository: AuditRepository,
    private readonly signing: SigningService,
  ) {}

  /** Idempotent: nothing to do when the head has not moved since the last checkpoint. */
  @JobHandler('audit', 'audit.checkpoint')
  async checkpoint(): Promise<{ seq: number } | null> {
    const head = await this.repository.head();
    if (head.seq === 0) return null;
    const last = await this.repository.lastCheckpointSeq();
    if (last !== null && last >= head.seq) return null;
    const { token, kid } = await this.signing.sign(
      'audit-checkpoint',
      { seq: head.seq, hash: head.hash },
      { audience: CHECKPOINT_AUDIENCE, subject: 'audit-chain', expiresInSeconds: CHECKPOINT_TTL_SECONDS, jwtid: `ckpt-${head.seq}` },
    );
    await this.repository.insertCheckpoint({ seq: head.seq, hash: head.hash, kid, token });
    return { seq: head.seq };
  }
}

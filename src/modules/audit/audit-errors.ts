/** Why the audit module refused to archive (or to trust) a segment: internal refusals, never an HTTP answer. */
export type AuditArchiveErrorCode = 'archive-chain-broken' | 'archive-checkpoint-invalid';

/** Archival stops at once and removes nothing: a segment that cannot be proven is kept in the chain for an operator. */
export class AuditArchiveError extends Error {
  constructor(
    readonly code: AuditArchiveErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AuditArchiveError';
  }
}

export const archiveChainBroken = (seq: number, reason: string) =>
  new AuditArchiveError('archive-chain-broken', `the segment cannot be archived: ${reason} at seq ${seq}`);

export const archiveCheckpointInvalid = (seq: number) =>
  new AuditArchiveError('archive-checkpoint-invalid', `checkpoint ${seq} does not verify against the chain and the gateway's keys`);

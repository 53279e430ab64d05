import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { SigningService } from '../signing/signing.service';
import { AuditRepository } from './audit.repository';
import { ArchiveManifestClaims } from './audit-archive.format';
import { AuditArchiveRepository } from './audit-archive.repository';
import { CHECKPOINT_AUDIENCE } from './audit-checkpoint.service';
import { AuditEvent, GENESIS_HASH, hashEntry } from './audit-entry';

export interface AuditVerification {
  ok: boolean;
  /** The first seq of the range checked. */
  checkedFrom: number;
  /** The last seq proven intact (checkedFrom - 1 when nothing was). */
  checkedThrough: number;
  /** Signed checkpoints in the range whose signature and {seq, hash} were proven, up to the first break. */
  checkpointsVerified: number;
  /** The first altered, removed or inserted entry. */
  firstBrokenSeq?: number;
  /** What failed there, for operators (no entry content). */
  reason?: string;
  /**
   * Entries written but not chained yet (the inbox; protected by triggers, not yet by the hashes), at the moment of
   * the check: how many, and the oldest one's time and age in whole seconds (null when none). A growing age means no
   * chainer runs. Not part of `ok`, which is about the chain's integrity.
   */
  unchained: { count: number; oldestAt: string | null; oldestAgeSeconds: number | null };
}

const PAGE = 5000;

interface Break {
  seq: number;
  reason: string;
}

/** Where the chain in the table starts: after the last archived segment (docs/AUDIT.md), or at the genesis. */
interface ChainAnchor {
  seq: number;
  hash: string;
  broken?: Break;
}

/**
 * Recomputes the hash chain and checks the signed checkpoints, inside one REPEATABLE READ snapshot so that
 * the chainer appending meanwhile is never mistaken for tampering.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: AuditRepository,
    private readonly signing: SigningService,
    private readonly archives: AuditArchiveRepository,
  ) {}

  async verify(range: { from?: number; to?: number } = {}): Promise<AuditVerification> {
    return this.dataSource.transaction('REPEATABLE READ', async (m) => {
      const head = await this.repository.head(m);
      // Archived entries are proven by their signed file; the table's chain is proven from the archived head on.
      const anchor = await this.archivedHead(m);
      const from = Math.max(anchor.seq + 1, range.from ?? 1);
      const through = Math.min(range.to ?? head.seq, head.seq);

      const chainBreak = anchor.broken ?? (await this.scanChain(m, from, through, anchor));
      let broken = chainBreak;
      if (!broken && (range.to === undefined || range.to > head.seq)) {
        const beyond = await this.repository.firstSeqAbove(m, head.seq);
        if (beyond !== null) broken = { seq: beyond, reason: 'entry beyond the chain head' };
      }
      const scannedThrough = broken ? broken.seq - 1 : through;
      const checkpoints = await this.checkCheckpoints(m, from, scannedThrough, head.seq, range.to === undefined);
      if (checkpoints.broken && (!broken || checkpoints.broken.seq < broken.seq)) broken = checkpoints.broken;
      // Checkpoints are read only up to a chain break and stop at their own first failure: all counted lie before it.
      const checkpointsVerified = checkpoints.verified;
      const backlog = await this.repository.unchainedBacklog(m);
      const unchained = {
        count: backlog.count,
        oldestAt: backlog.oldestAt?.toISOString() ?? null,
        oldestAgeSeconds: backlog.oldestAgeMs === null ? null : Math.floor(backlog.oldestAgeMs / 1000),
      };

      if (!broken) return { ok: true, checkedFrom: from, checkedThrough: Math.max(through, from - 1), checkpointsVerified, unchained };
      return {
        ok: false,
        checkedFrom: from,
        checkedThrough: Math.max(0, broken.seq - 1),
        checkpointsVerified,
        firstBrokenSeq: broken.seq,
        reason: broken.reason,
        unchained,
      };
    });
  }

  /**
   * Walks the range in seq order. At the first bad row r: a hash that does not match its own content names r,
   * unless r's prev_hash skips r-1 (then r-1 was inserted); a matching hash with a broken link names r-1 (it was
   * rewritten, hash included); a missing seq names the missing one.
   */
  private async scanChain(m: EntityManager, from: number, through: number, anchor: ChainAnchor): Promise<Break | null> {
    if (through < from) return null;
    const before = from > anchor.seq + 1 ? await this.repository.eventsBetween(m, Math.max(anchor.seq + 1, from - 2), from - 1, 2) : [];
    let prev: string | undefined = from === anchor.seq + 1 ? anchor.hash : before.find((e) => e.seq === from - 1)?.hash;
    let prevPrev: string | undefined = from === anchor.seq + 2 ? anchor.hash : before.find((e) => e.seq === from - 2)?.hash;
    if (prev === undefined) return { seq: from - 1, reason: 'entry missing' };
    let expected = from;
    while (expected <= through) {
      const page: AuditEvent[] = await this.repository.eventsBetween(m, expected, through, PAGE);
      if (page.length === 0) return { seq: expected, reason: 'entry missing' };
      for (const event of page) {
        if (event.seq !== expected) return { seq: expected, reason: 'entry missing' };
        const selfOk = hashEntry(event) === event.hash;
        const linkOk = event.prevHash === prev;
        if (!linkOk && event.prevHash === prevPrev) return { seq: expected - 1, reason: 'entry inserted' };
        if (!selfOk) return { seq: expected, reason: 'entry altered' };
        // The entry before the first one in the table is archived, and cannot have been rewritten here: this one was.
        if (!linkOk && expected - 1 <= anchor.seq) return { seq: expected, reason: 'entry does not follow the archived head' };
        if (!linkOk) return { seq: expected - 1, reason: 'entry altered and rehashed' };
        prevPrev = prev;
        prev = event.hash;
        expected++;
      }
    }
    return null;
  }

  /**
   * The last archive's {seq, hash}, trusted only under the gateway's signature on its manifest: a forged archive row
   * (to shorten the trail) breaks the chain at the entry after it.
   */
  private async archivedHead(m: EntityManager): Promise<ChainAnchor> {
    const last = await this.archives.lastArchive(m);
    if (!last) return { seq: 0, hash: GENESIS_HASH };
    const claims = await this.signing
      .verify('audit-archive', last.manifest, { audience: CHECKPOINT_AUDIENCE, ignoreExpiration: true })
      .catch(() => null);
    const signed = claims?.archive as ArchiveManifestClaims | undefined;
    if (signed?.lastSeq === last.lastSeq && signed.lastHash === last.lastHash) return { seq: last.lastSeq, hash: last.lastHash };
    return {
      seq: last.lastSeq,
      hash: last.lastHash,
      broken: { seq: last.lastSeq + 1, reason: 'the archive record does not match its signed manifest' },
    };
  }

  /**
   * Each checkpoint in range must carry a valid gateway signature over the {seq, hash} it stores, and that hash
   * must be the chain's. A chain rewritten consistently (hashes recomputed) fails here; the break lies after the
   * last good checkpoint, which is what we can name.
   */
  private async checkCheckpoints(
    m: EntityManager,
    from: number,
    through: number,
    headSeq: number,
    includeBeyondHead: boolean,
  ): Promise<{ broken: Break | null; verified: number }> {
    let verified = 0;
    let lastGood = from - 1;
    let after = from - 1;
    const upTo = includeBeyondHead ? Number.MAX_SAFE_INTEGER : through;
    const fail = (broken: Break) => ({ broken, verified });
    for (;;) {
      const page = await this.repository.checkpointsBetween(m, after, upTo, 1000);
      if (page.length === 0) return { broken: null, verified };
      for (const c of page) {
        if (c.seq > headSeq) return fail({ seq: headSeq + 1, reason: 'entries removed after a signed checkpoint' });
        if (c.seq > through) return { broken: null, verified };
        let claims: Record<string, unknown>;
        try {
          claims = await this.signing.verify('audit-checkpoint', c.token, { audience: CHECKPOINT_AUDIENCE, ignoreExpiration: true });
        } catch {
          return fail({ seq: lastGood + 1, reason: `checkpoint ${c.seq} signature invalid` });
        }
        if (claims.seq !== c.seq || claims.hash !== c.hash || c.eventHash !== c.hash) {
          return fail({ seq: lastGood + 1, reason: `checkpoint ${c.seq} does not match the chain` });
        }
        verified++;
        lastGood = c.seq;
        after = c.seq;
      }
    }
  }
}

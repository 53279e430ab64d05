import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { CryptoService } from '../../infra/crypto/crypto.service';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { AuditActorType } from '../audit/audit-entry';
import { DEFAULT_SIGNING_ALG, generateKeyMaterial, SigningAlg } from './key-material';
import { SigningKeyRepository } from './signing-key.repository';

/** The master-key purpose under which private signing keys are sealed (the kid is the AAD). */
export const PRIVATE_KEY_PURPOSE = 'signing-key.private';

/** Who asked for a key change, for its audit entry. */
export interface KeyChangeActor {
  actorType: AuditActorType;
  actorId: string;
  requestId?: string;
  clientIp?: string;
}

export const SYSTEM_ACTOR: KeyChangeActor = { actorType: 'system', actorId: 'gateway' };

export interface CreatedKey {
  kid: string;
  alg: SigningAlg;
  previousKid: string | null;
}

/** Attempts of one rotation racing others (see rotate). */
const MAX_ROTATION_ATTEMPTS = 10;

const isDuplicateKey = (error: unknown): boolean => {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === 1062 || e?.driverError?.errno === 1062;
};

/**
 * Creates gateway keys: the first one on start-up (safe when many processes start at once: the unique
 * one-ACTIVE index lets exactly one insert win) and new ones on rotation. Each change is audited in its transaction.
 */
@Injectable()
export class SigningKeyRotation implements OnApplicationBootstrap {
  private readonly logger = new Logger(SigningKeyRotation.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly keys: SigningKeyRepository,
    private readonly crypto: CryptoService,
    private readonly audit: AuditWriter,
  ) {}

  async onApplicationBootstrap() {
    await this.ensureActiveKey();
  }

  async ensureActiveKey(): Promise<void> {
    if (await this.keys.hasActive()) return;
    try {
      const key = await this.create(SYSTEM_ACTOR, DEFAULT_SIGNING_ALG, false);
      this.logger.log({ kid: key.kid }, 'created the first gateway signing key');
    } catch (error) {
      if (!isDuplicateKey(error)) throw error; // another process created it first
    }
  }

  /** New ACTIVE key; the previous one becomes RETIRED (still verifying, still published while needed). */
  async rotate(actor: KeyChangeActor, alg: SigningAlg = DEFAULT_SIGNING_ALG): Promise<CreatedKey> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.create(actor, alg, true);
      } catch (error) {
        // A concurrent rotation committed while we waited for the ACTIVE row's lock (we then find no ACTIVE row and
        // our insert collides with its key); run again against its result. Of n rotations at once the last one loses
        // n − 1 times, so the bound is well above any plausible number of simultaneous operator rotations.
        if (!isDuplicateKey(error) || attempt >= MAX_ROTATION_ATTEMPTS) throw error;
      }
    }
  }

  private async create(actor: KeyChangeActor, alg: SigningAlg, retirePrevious: boolean): Promise<CreatedKey> {
    const material = generateKeyMaterial(alg);
    const privateKeyEnc = this.crypto.encrypt(PRIVATE_KEY_PURPOSE, material.privateKeyPem, material.kid);
    return this.tx.run(async (m) => {
      const previous = retirePrevious ? await this.keys.lockActive(m) : null;
      if (previous) await this.keys.retire(m, previous.kid);
      await this.keys.insertActive(m, { kid: material.kid, alg, publicJwk: material.publicJwk, privateKeyEnc });
      await this.audit.append(
        {
          ...actor,
          action: retirePrevious ? 'signing_key.rotated' : 'signing_key.created',
          resourceType: 'signing_key',
          resourceId: material.kid,
          outcome: 'SUCCESS',
          details: { alg, previousKid: previous?.kid ?? null },
        },
        m,
      );
      return { kid: material.kid, alg, previousKid: previous?.kid ?? null };
    });
  }
}

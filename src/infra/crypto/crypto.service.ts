import { Injectable } from '@nestjs/common';

import { configurePublicIds } from '../../common/public-id';
import { AppConfigService } from '../config/app-config';
import { deriveKey, keyedHash, keyedHashBytes, open, seal } from './envelope';

/**
 * Public ids are made and read in plain functions across the modules (common/public-id.ts): their codec gets its
 * subkey of the master key here, when CryptoService starts, or from a script that makes ids beside the app (tests,
 * the benchmark's seeding).
 */
export function configurePublicIdsWith(masterKeyBase64: string): void {
  configurePublicIds(deriveKey(Buffer.from(masterKeyBase64, 'base64'), 'public-ids', 'enc'));
}

/**
 * The master key's uses, injectable: encrypt/decrypt values at rest and compute keyed hashes, each under a
 * subkey of its own purpose. The master key itself never leaves this class.
 */
@Injectable()
export class CryptoService {
  private readonly masterKey: Buffer;
  private readonly subkeys = new Map<string, Buffer>();

  constructor(config: AppConfigService) {
    this.masterKey = Buffer.from(config.values.masterKey, 'base64');
    configurePublicIdsWith(config.values.masterKey);
  }

  encrypt(purpose: string, plaintext: Buffer | string, aad?: string): Buffer {
    return seal(this.subkey(purpose, 'enc'), plaintext, aad);
  }

  decrypt(purpose: string, sealed: Buffer, aad?: string): Buffer {
    return open(this.subkey(purpose, 'enc'), sealed, aad);
  }

  keyedHash(purpose: string, value: string): string {
    return keyedHash(this.subkey(purpose, 'mac'), value);
  }

  /** The same keyed hash as raw bytes (what BINARY(32) columns hold). */
  keyedHashBytes(purpose: string, value: string): Buffer {
    return keyedHashBytes(this.subkey(purpose, 'mac'), value);
  }

  private subkey(purpose: string, use: 'enc' | 'mac'): Buffer {
    const id = `${use}:${purpose}`;
    let key = this.subkeys.get(id);
    if (!key) {
      key = deriveKey(this.masterKey, purpose, use);
      this.subkeys.set(id, key);
    }
    return key;
  }
}

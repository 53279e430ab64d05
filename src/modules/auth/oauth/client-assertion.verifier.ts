import { createPublicKey } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import * as jwt from 'jsonwebtoken';

import { AppConfigService } from '../../../infra/config/app-config';
import { algorithmsFor } from '../../partners/client-keys';
import { CLIENT_KEY_ALGS, ClientKeyAlg, PARTNER_CODE, PartnerWithKeys } from '../../partners/partner';
import { PartnersRepository } from '../../partners/partners.repository';
import { JtiReplayStore } from './jti-replay.store';
import { OAuthError } from './oauth-error';

/** Small clock skew between a bank's clock and ours. */
export const ASSERTION_CLOCK_SKEW_SECONDS = 30;
/** RFC 7523 leaves the lifetime to us; API.md: exp at most 5 minutes after iat. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;

export interface VerifiedAssertion {
  partner: PartnerWithKeys;
  kid: string;
  alg: ClientKeyAlg;
}

/** One message for every failure that could tell an attacker which client ids or kids exist. */
const authenticationFailed = (reason: string, partnerCode?: string) =>
  new OAuthError('invalid_client', 'Client authentication failed', reason, partnerCode);

/**
 * RFC 7523 private_key_jwt client authentication: the assertion is signed by a key registered to the client
 * (kid selects it; the algorithm is pinned to the key's type), iss = sub = client id, aud = the token endpoint or the
 * issuer (alone), jti/iat/exp present, at most 5 minutes of lifetime, not expired, each jti used once, the client active.
 * The partner and its keys are read fresh: a key change or suspension counts from the next request on.
 */
@Injectable()
export class ClientAssertionVerifier {
  private readonly audiences: string[];

  constructor(
    config: AppConfigService,
    private readonly partners: PartnersRepository,
    private readonly replays: JtiReplayStore,
  ) {
    const issuer = config.values.publicBaseUrl.replace(/\/+$/, '');
    this.audiences = [issuer, `${issuer}/`, `${issuer}/oauth/token`];
  }

  async verify(assertion: string): Promise<VerifiedAssertion> {
    const decoded = jwt.decode(assertion, { complete: true, json: true });
    if (!decoded || typeof decoded.payload !== 'object')
      throw new OAuthError('invalid_client', 'The client assertion is not a JWT', 'malformed');
    const { header, payload: unverified } = decoded;
    const alg = header.alg as ClientKeyAlg;
    // none and HMAC are refused before any key is looked at (RFC 8725 §3.1).
    if (!CLIENT_KEY_ALGS.includes(alg)) {
      throw new OAuthError('invalid_client', `The client assertion must be signed with ${CLIENT_KEY_ALGS.join(', ')}`, 'algorithm');
    }
    const clientId = unverified.iss;
    if (typeof clientId !== 'string' || clientId !== unverified.sub) {
      throw new OAuthError('invalid_client', 'The assertion must have iss and sub both equal to the client id', 'iss_sub');
    }
    const partner = PARTNER_CODE.test(clientId) ? await this.partners.findByCode(clientId) : undefined;
    if (!partner) throw authenticationFailed('unknown_client');
    const key =
      typeof header.kid === 'string'
        ? partner.keys.find((k) => k.kid === header.kid)
        : partner.keys.length === 1 // a kid may be left out only when there is nothing to choose from
          ? partner.keys[0]
          : undefined;
    if (!key) throw authenticationFailed('unknown_key', partner.code);
    if (!algorithmsFor(key.jwk).includes(alg)) throw authenticationFailed('algorithm_not_for_key', partner.code);

    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(assertion, createPublicKey({ key: key.jwk as never, format: 'jwk' }), {
        algorithms: [alg],
        clockTolerance: ASSERTION_CLOCK_SKEW_SECONDS,
      }) as jwt.JwtPayload;
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) throw refused('The client assertion has expired', 'expired', partner);
      if (error instanceof jwt.NotBeforeError) throw refused('The client assertion is not valid yet', 'not_before', partner);
      throw authenticationFailed('signature', partner.code);
    }
    this.checkClaims(claims, partner);
    if (partner.status !== 'ACTIVE') throw refused('The client is suspended', 'suspended', partner);
    if (!(await this.replays.firstUse(partner.code, claims.jti!, claims.exp!, ASSERTION_CLOCK_SKEW_SECONDS))) {
      throw refused('The client assertion has already been used (jti)', 'replayed', partner);
    }
    return { partner, kid: key.kid, alg };
  }

  /** Checks made once the signature is known good, so their messages may be specific. */
  private checkClaims(claims: jwt.JwtPayload, partner: PartnerWithKeys): void {
    // One audience only: an assertion addressed to us and to another server too could be replayed at the other one
    // (or was made for it), so a list is accepted only when it names nothing but us.
    const audience = Array.isArray(claims.aud) && claims.aud.length === 1 ? claims.aud[0] : claims.aud;
    if (typeof audience !== 'string' || !this.audiences.includes(audience)) {
      throw refused('The assertion aud must be the token endpoint URL or the issuer, and nothing else', 'audience', partner);
    }
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number')
      throw refused('The assertion must carry iat and exp', 'iat_exp', partner);
    if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256) {
      throw refused('The assertion must carry a jti of 1-256 characters', 'jti', partner);
    }
    if (claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_SECONDS) {
      throw refused(`The assertion exp may be at most ${MAX_ASSERTION_LIFETIME_SECONDS} seconds after its iat`, 'lifetime', partner);
    }
    if (claims.iat > Date.now() / 1000 + ASSERTION_CLOCK_SKEW_SECONDS)
      throw refused('The assertion iat is in the future', 'iat_future', partner);
  }
}

function refused(description: string, reason: string, partner: PartnerWithKeys): OAuthError {
  return new OAuthError('invalid_client', description, reason, partner.code);
}

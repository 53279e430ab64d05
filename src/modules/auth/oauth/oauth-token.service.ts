import { Injectable } from '@nestjs/common';
import * as jwt from 'jsonwebtoken';

import { AppConfigService } from '../../../infra/config/app-config';
import { AuditWriter } from '../../audit/audit.writer';
import { PARTNER_CODE, PartnerScope } from '../../partners/partner';
import { SigningService } from '../../signing/signing.service';
import { ClientAssertionVerifier } from './client-assertion.verifier';
import { OAuthError } from './oauth-error';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** API.md: access tokens live at most 15 minutes. */
export const ACCESS_TOKEN_SECONDS = 900;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export interface TokenRequestContext {
  contentType: string | undefined;
  requestId: string;
  clientIp: string;
}

/**
 * The client credentials grant (RFC 6749 §4.4) with private_key_jwt client authentication (RFC 7523). Every issued
 * and every refused token is audited; the assertion itself never is.
 */
@Injectable()
export class OAuthTokenService {
  private readonly issuer: string;

  constructor(
    config: AppConfigService,
    private readonly assertions: ClientAssertionVerifier,
    private readonly signing: SigningService,
    private readonly audit: AuditWriter,
  ) {
    this.issuer = config.values.publicBaseUrl;
  }

  async issue(body: unknown, ctx: TokenRequestContext): Promise<TokenResponse> {
    try {
      return await this.grant(body, ctx);
    } catch (error) {
      if (error instanceof OAuthError) await this.auditRefusal(error, body, ctx);
      throw error;
    }
  }

  private async grant(body: unknown, ctx: TokenRequestContext): Promise<TokenResponse> {
    const form = readForm(body, ctx.contentType);
    if (!form.grant_type) throw new OAuthError('invalid_request', 'grant_type is required');
    if (form.grant_type !== 'client_credentials') {
      throw new OAuthError('unsupported_grant_type', 'Only the client_credentials grant is supported');
    }
    if (form.client_assertion_type !== JWT_BEARER_ASSERTION) {
      // No or another client authentication method: RFC 6749 §5.2 calls both invalid_client.
      throw new OAuthError(
        'invalid_client',
        `Authenticate with client_assertion_type=${JWT_BEARER_ASSERTION} (private_key_jwt)`,
        'assertion_type',
      );
    }
    if (!form.client_assertion) throw new OAuthError('invalid_request', 'client_assertion is required');
    const { partner } = await this.assertions.verify(form.client_assertion);
    if (form.client_id !== undefined && form.client_id !== partner.code) {
      throw new OAuthError('invalid_client', 'client_id does not match the assertion', 'client_id', partner.code);
    }
    const scopes = grantedScopes(form.scope, partner.scopes, partner.code);
    const scope = scopes.join(' ');
    const token = await this.signing.sign(
      'access-token',
      { scope, client_id: partner.code },
      { audience: this.issuer, subject: partner.code, expiresInSeconds: ACCESS_TOKEN_SECONDS },
    );
    await this.audit.append({
      actorType: 'partner',
      actorId: partner.code,
      action: 'oauth.token.issued',
      resourceType: 'access_token',
      resourceId: token.jti,
      partnerCode: partner.code,
      requestId: ctx.requestId,
      clientIp: ctx.clientIp,
      outcome: 'SUCCESS',
      httpStatus: 200,
      details: { scope, expiresAt: token.expiresAt.toISOString(), signingKid: token.kid },
    });
    return { access_token: token.token, token_type: 'Bearer', expires_in: ACCESS_TOKEN_SECONDS, scope };
  }

  private async auditRefusal(error: OAuthError, body: unknown, ctx: TokenRequestContext): Promise<void> {
    await this.audit.append({
      actorType: 'partner',
      // The client id the caller claimed (unverified unless partnerCode is set): who the attempt was made as.
      actorId: claimedClientId(body) ?? 'unknown',
      action: 'oauth.token.refused',
      partnerCode: error.partnerCode,
      requestId: ctx.requestId,
      clientIp: ctx.clientIp,
      outcome: error.error === 'invalid_client' ? 'DENIED' : 'FAILURE',
      httpStatus: error.status,
      details: { error: error.error, reason: error.reason },
    });
  }
}

type Form = Partial<Record<'grant_type' | 'client_assertion_type' | 'client_assertion' | 'client_id' | 'scope', string>>;

/** The form fields, each at most once (RFC 6749 §3.2); unknown fields are ignored as OAuth requires. */
function readForm(body: unknown, contentType: string | undefined): Form {
  if (!/^application\/x-www-form-urlencoded\b/i.test(contentType ?? '') || !body || typeof body !== 'object') {
    throw new OAuthError('invalid_request', 'The body must be application/x-www-form-urlencoded');
  }
  const form: Form = {};
  for (const name of ['grant_type', 'client_assertion_type', 'client_assertion', 'client_id', 'scope'] as const) {
    const value = (body as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new OAuthError('invalid_request', `${name} must be given once`);
    form[name] = value;
  }
  return form;
}

/** The requested scopes (default: all granted), which must all be granted to the partner. */
function grantedScopes(requested: string | undefined, granted: PartnerScope[], partnerCode: string): PartnerScope[] {
  if (requested === undefined) return granted;
  const wanted = [...new Set(requested.split(' ').filter(Boolean))];
  if (wanted.length === 0) throw new OAuthError('invalid_scope', 'scope is empty', 'invalid_scope', partnerCode);
  if (!wanted.every((s) => granted.includes(s as PartnerScope))) {
    throw new OAuthError(
      'invalid_scope',
      'The requested scope is unknown or exceeds the scopes granted to this client',
      'invalid_scope',
      partnerCode,
    );
  }
  // Kept in the partner's order, so equal requests give equal scope strings.
  return granted.filter((s) => wanted.includes(s));
}

function claimedClientId(body: unknown): string | undefined {
  const assertion = (body as Record<string, unknown> | undefined)?.client_assertion;
  if (typeof assertion !== 'string') return undefined;
  const iss = jwt.decode(assertion, { json: true })?.iss;
  return typeof iss === 'string' && PARTNER_CODE.test(iss) ? iss : undefined;
}

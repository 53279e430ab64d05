import { Injectable } from '@nestjs/common';

import { NotFoundError, ValidationFailedError } from '../../common/errors';
import { decodeCursor, Page, toPage } from '../../common/pagination';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput, canonicalJson } from '../audit/audit-entry';
import { RequestActor } from '../auth/actor.decorator';
import { PartnersRepository } from '../partners/partners.repository';
import { parseCriteria } from '../prescreening/criteria';
import {
  CARD_PRODUCT_DEFAULTS,
  CardProductDefinition,
  CardProductVersion,
  CardProductView,
  sha256Hex,
  toCardProductView,
} from './card-product';
import { consentTextUnchanged } from './card-product-errors';
import { CardProductsRepository } from './card-products.repository';
import { CreateCardProductDto, ListCardProductsQuery, UpdateCardProductDto } from './dto/card-product.dto';

/**
 * The operator use cases on card products. Every change writes a new immutable version (the whole definition)
 * and moves the product's current version, in one transaction with its audit entry; offers pin (product, version).
 */
@Injectable()
export class CardProductsService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly products: CardProductsRepository,
    private readonly partners: PartnersRepository,
    private readonly audit: AuditWriter,
  ) {}

  async create(dto: CreateCardProductDto, actor: RequestActor): Promise<CardProductView> {
    const definition: CardProductDefinition = {
      status: dto.status ?? CARD_PRODUCT_DEFAULTS.status,
      name: dto.name,
      criteria: parseCriteria(dto.criteria),
      sharedFields: dto.sharedFields,
      consentText: dto.consentText,
      textVersion: 1,
      textSha256: sha256Hex(dto.consentText),
      purpose: dto.purpose,
      retentionDays: dto.retentionDays ?? CARD_PRODUCT_DEFAULTS.retentionDays,
      decisionSlaHours: dto.decisionSlaHours ?? CARD_PRODUCT_DEFAULTS.decisionSlaHours,
      dailyReferralCap: dto.dailyReferralCap ?? CARD_PRODUCT_DEFAULTS.dailyReferralCap,
      offerTtlDays: dto.offerTtlDays ?? CARD_PRODUCT_DEFAULTS.offerTtlDays,
      delinquencyScope: dto.delinquencyScope ?? CARD_PRODUCT_DEFAULTS.delinquencyScope,
    };
    const created = await this.tx.run(async (m) => {
      // An unknown partner is a bad field of this body (400), not a missing resource at this URL (404).
      const partner = await this.partners.findByCode(dto.partnerCode, { manager: m });
      if (!partner) throw new ValidationFailedError([{ field: 'partnerCode', message: 'is not a registered partner' }]);
      const productId = await this.products.insertProduct(m, dto.code, partner.id);
      await this.products.insertVersion(m, productId, 1, definition, actor.principal.id);
      await this.audit.append(auditEntry(actor, 'card_product.created', dto.code, partner.code, 201, versionDetails(1, definition)), m);
      return (await this.products.findCurrentByCode(dto.code, m))!;
    });
    return toCardProductView(created);
  }

  async update(code: string, dto: UpdateCardProductDto, actor: RequestActor): Promise<CardProductView> {
    const given = Object.keys(dto).filter((k) => (dto as Record<string, unknown>)[k] !== undefined);
    if (given.length === 0) throw new ValidationFailedError([{ field: null, message: 'give at least one field to change' }]);
    const criteria = dto.criteria === undefined ? undefined : parseCriteria(dto.criteria);

    const result = await this.tx.run(async (m) => {
      if (!(await this.products.lockByCode(m, code))) throw new NotFoundError('card product');
      const current = (await this.products.findCurrentByCode(code, m))!;
      const consentText = dto.consentText ?? current.consentText;
      const textChanged = consentText !== current.consentText;
      const sharedFields = dto.sharedFields ?? current.sharedFields;
      // Each text version stands for one set of shared fields: consent is checked against the text alone.
      if (!textChanged && !sameFields(sharedFields, current.sharedFields)) throw consentTextUnchanged();
      const next: CardProductDefinition = {
        status: dto.status ?? current.status,
        name: dto.name ?? current.name,
        criteria: criteria ?? current.criteria,
        sharedFields,
        consentText,
        textVersion: textChanged ? current.textVersion + 1 : current.textVersion,
        textSha256: textChanged ? sha256Hex(consentText) : current.textSha256,
        purpose: dto.purpose ?? current.purpose,
        retentionDays: dto.retentionDays ?? current.retentionDays,
        decisionSlaHours: dto.decisionSlaHours ?? current.decisionSlaHours,
        dailyReferralCap: dto.dailyReferralCap === undefined ? current.dailyReferralCap : dto.dailyReferralCap,
        offerTtlDays: dto.offerTtlDays ?? current.offerTtlDays,
        delinquencyScope: dto.delinquencyScope ?? current.delinquencyScope,
      };
      const changed = changedFields(current, next);
      // Re-sending the current values is not a change: no new version, nothing to audit.
      if (changed.length === 0) return current;

      const version = current.version + 1;
      await this.products.insertVersion(m, current.productId, version, next, actor.principal.id);
      await this.products.setCurrentVersion(m, current.productId, version);
      await this.audit.append(
        auditEntry(actor, 'card_product.updated', code, current.partnerCode, 200, { ...versionDetails(version, next), fields: changed }),
        m,
      );
      return (await this.products.findCurrentByCode(code, m))!;
    });
    return toCardProductView(result);
  }

  async list(query: ListCardProductsQuery): Promise<Page<CardProductView>> {
    const rows = await this.products.page(decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (p) => p.productId, toCardProductView);
  }

  async view(code: string, version?: number): Promise<CardProductView> {
    return toCardProductView(version === undefined ? await this.getCurrent(code) : await this.getVersion(code, version));
  }

  /** The current version of a product (pre-screen runs evaluate it; offers then pin its version). */
  async getCurrent(code: string): Promise<CardProductVersion> {
    const product = await this.products.findCurrentByCode(code);
    if (!product) throw new NotFoundError('card product');
    return product;
  }

  /** A pinned version, by product code. */
  async getVersion(code: string, version: number): Promise<CardProductVersion> {
    const product = await this.products.findVersionByCode(code, version);
    if (!product) throw new NotFoundError('card product version');
    return product;
  }
}

const DEFINITION_FIELDS: (keyof CardProductDefinition)[] = [
  'status',
  'name',
  'criteria',
  'sharedFields',
  'consentText',
  'purpose',
  'retentionDays',
  'decisionSlaHours',
  'dailyReferralCap',
  'offerTtlDays',
  'delinquencyScope',
];

/** The same set of paths (their order shares nothing more or less). */
const sameFields = (a: readonly string[], b: readonly string[]) => canonicalJson([...a].sort()) === canonicalJson([...b].sort());

function changedFields(current: CardProductDefinition, next: CardProductDefinition): string[] {
  return DEFINITION_FIELDS.filter((f) => canonicalJson(current[f]) !== canonicalJson(next[f]));
}

/** What the audit keeps of a version: never the consent text itself, its version and digest stand for it. */
function versionDetails(version: number, d: CardProductDefinition): Record<string, unknown> {
  return {
    version,
    status: d.status,
    textVersion: d.textVersion,
    textSha256: d.textSha256,
    rules: d.criteria.length,
    sharedFields: d.sharedFields,
  };
}

function auditEntry(
  actor: RequestActor,
  action: string,
  code: string,
  partnerCode: string,
  httpStatus: number,
  details: Record<string, unknown>,
): AuditEntryInput {
  return {
    actorType: actor.principal.type,
    actorId: actor.principal.id,
    action,
    resourceType: 'card_product',
    resourceId: code,
    partnerCode,
    requestId: actor.requestId,
    clientIp: actor.clientIp,
    outcome: 'SUCCESS',
    httpStatus,
    details,
  };
}

import { Injectable } from '@nestjs/common';

import { NotFoundError, ValidationFailedError } from '../../common/errors';
import { decodeCursor, Page, toPage } from '../../common/pagination';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput } from '../audit/audit-entry';
import { RequestActor } from '../auth/actor.decorator';
import { parseClientKeys } from './client-keys';
import { CreatePartnerDto, ListPartnersQuery, UpdatePartnerDto } from './dto/partner.dto';
import { DEFAULT_NOTICE_DAYS, DEFAULT_OVERDUE_THRESHOLD_DAYS, PARTNER_SCOPES, PartnerView, toPartnerView } from './partner';
import { PartnerDirectory } from './partner-directory';
import { PartnerChanges, PartnersRepository } from './partners.repository';
import { PushEndpointPolicy } from './push-endpoint.policy';

/** The operator use cases on partners; each change commits together with its audit entry. */
@Injectable()
export class PartnersService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly partners: PartnersRepository,
    private readonly directory: PartnerDirectory,
    private readonly pushPolicy: PushEndpointPolicy,
    private readonly audit: AuditWriter,
  ) {}

  async create(dto: CreatePartnerDto, actor: RequestActor): Promise<PartnerView> {
    const keys = parseClientKeys(dto);
    const pushEndpoint = dto.pushEndpoint === undefined ? null : await this.pushPolicy.assertAllowed(dto.pushEndpoint);
    const created = await this.tx.run(async (m) => {
      const id = await this.partners.insert(m, {
        code: dto.code,
        name: dto.name,
        pushEndpoint,
        scopes: dto.scopes ?? [...PARTNER_SCOPES],
        overdueThresholdDays: dto.overdueThresholdDays ?? DEFAULT_OVERDUE_THRESHOLD_DAYS,
        noticeDays: dto.noticeDays ?? DEFAULT_NOTICE_DAYS,
      });
      await this.partners.replaceKeys(m, id, keys);
      await this.audit.append(entry(actor, 'partner.created', dto.code, 201, { kids: keys.map((k) => k.kid) }), m);
      return (await this.partners.findByCode(dto.code, { manager: m }))!;
    });
    return toPartnerView(created);
  }

  async update(code: string, dto: UpdatePartnerDto, actor: RequestActor): Promise<PartnerView> {
    const fields = Object.keys(dto).filter((k) => (dto as Record<string, unknown>)[k] !== undefined);
    if (fields.length === 0) throw new ValidationFailedError([{ field: null, message: 'give at least one field to change' }]);
    const keys = dto.jwks !== undefined || dto.publicKeyPem !== undefined ? parseClientKeys(dto) : undefined;
    const pushEndpoint =
      dto.pushEndpoint === undefined || dto.pushEndpoint === null
        ? dto.pushEndpoint
        : await this.pushPolicy.assertAllowed(dto.pushEndpoint);
    const changes: PartnerChanges = {
      name: dto.name,
      status: dto.status,
      pushEndpoint,
      scopes: dto.scopes,
      overdueThresholdDays: dto.overdueThresholdDays,
      noticeDays: dto.noticeDays,
    };
    const updated = await this.tx.run(async (m) => {
      const current = await this.partners.findByCode(code, { manager: m, forUpdate: true });
      if (!current) throw new NotFoundError('partner');
      await this.partners.update(m, current.id, changes);
      if (keys) await this.partners.replaceKeys(m, current.id, keys);
      const other = fields.filter((f) => f !== 'status');
      if (other.length > 0) {
        await this.audit.append(
          entry(actor, 'partner.updated', code, 200, { fields: other, ...(keys ? { kids: keys.map((k) => k.kid) } : {}) }),
          m,
        );
      }
      if (dto.status !== undefined && dto.status !== current.status) {
        const action = dto.status === 'SUSPENDED' ? 'partner.suspended' : 'partner.reactivated';
        await this.audit.append(entry(actor, action, code, 200, { from: current.status, to: dto.status }), m);
      }
      return (await this.partners.findByCode(code, { manager: m }))!;
    });
    // This instance stops honouring a suspended partner's tokens at once; others within PartnerDirectory's TTL.
    this.directory.invalidate(code);
    return toPartnerView(updated);
  }

  async list(query: ListPartnersQuery): Promise<Page<PartnerView>> {
    const rows = await this.partners.page(decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (p) => p.id, toPartnerView);
  }
}

function entry(actor: RequestActor, action: string, code: string, httpStatus: number, details: Record<string, unknown>): AuditEntryInput {
  return {
    actorType: actor.principal.type,
    actorId: actor.principal.id,
    action,
    resourceType: 'partner',
    resourceId: code,
    partnerCode: code,
    requestId: actor.requestId,
    clientIp: actor.clientIp,
    outcome: 'SUCCESS',
    httpStatus,
    details,
  };
}

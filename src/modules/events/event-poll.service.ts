import { Injectable } from '@nestjs/common';

import { FieldError, ValidationFailedError } from '../../common/errors';
import { keyOf, toPublicId } from '../../common/public-id';
import { AppConfigService } from '../../infra/config/app-config';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { partnerAuditFields, RequestActor } from '../auth/actor.decorator';
import { DEFAULT_MAX_EVENTS, MAX_EVENTS, PollEventsDto, PollEventsResponse } from './dto/poll-events.dto';
import { PartnerEventsRepository } from './partner-events.repository';

/** How often a waiting poll looks for a new event; each look is one indexed query, no transaction held. */
const RECHECK_MS = 250;
/** RFC 8936 §2.4.4 error codes are short tokens; descriptions are free text we keep bounded. */
const ERR_CODE = /^[a-z0-9_]{1,64}$/;

interface SetErr {
  err: string;
  description?: string;
}

/**
 * RFC 8936 poll: acknowledgements and setErrs apply first (only to the caller's own events, unknown jtis ignored),
 * then the open events are handed out in creation order. An event stays open, and is handed out again on every
 * poll, until it is acknowledged or answered with a setErr.
 */
@Injectable()
export class EventPollService {
  constructor(
    private readonly events: PartnerEventsRepository,
    private readonly tx: TransactionRunner,
    private readonly audit: AuditWriter,
    private readonly config: AppConfigService,
  ) {}

  async poll(partnerId: string, req: PollEventsDto, actor: RequestActor): Promise<PollEventsResponse> {
    const setErrs = parseSetErrs(req.setErrs);
    const ackIds = unique((req.ack ?? []).map((jti) => keyOf('evt', jti)));
    if (ackIds.length > 0 || setErrs.length > 0) await this.answer(partnerId, ackIds, setErrs, actor);

    const max = req.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (max === 0) return { sets: {}, moreAvailable: await this.events.hasOpenEvents(partnerId) };
    const waitMs = req.returnImmediately === true ? 0 : this.config.values.events.pollMaxWaitMs;
    const deadline = Date.now() + waitMs;
    let rows = await this.events.openEvents(partnerId, max);
    while (rows.length === 0 && Date.now() + RECHECK_MS <= deadline) {
      await new Promise((r) => setTimeout(r, RECHECK_MS));
      rows = await this.events.openEvents(partnerId, max);
    }
    const handedOut = rows.slice(0, max);
    await this.events.markPolled(
      partnerId,
      handedOut.map((r) => String(r.id)),
    );
    const sets: Record<string, string> = {};
    for (const row of handedOut) sets[jtiOf(row.set_jws)] = row.set_jws;
    return { sets, moreAvailable: rows.length > max };
  }

  private async answer(partnerId: string, ackIds: string[], setErrs: Array<{ id: string; error: SetErr }>, actor: RequestActor) {
    await this.tx.run(async (m) => {
      const acknowledged = await this.events.acknowledge(m, partnerId, ackIds);
      let errored = 0;
      for (const { id, error } of setErrs) errored += await this.events.recordSetError(m, partnerId, id, error);
      await this.audit.append(
        {
          ...partnerAuditFields(actor),
          action: 'partner_events.answered',
          resourceType: 'partner_event',
          outcome: 'SUCCESS',
          details: {
            acknowledged,
            setErrs: errored,
            ack: ackIds.map((id) => toPublicId('evt', id)),
            errors: setErrs.map(({ id, error }) => ({ jti: toPublicId('evt', id), err: error.err })),
          },
        },
        m,
      );
    });
  }
}

/** Checks every setErr entry; entries naming no event we could have issued are ignored like unknown acks. */
function parseSetErrs(input: Record<string, unknown> | undefined): Array<{ id: string; error: SetErr }> {
  if (input === undefined) return [];
  const entries = Object.entries(input);
  const problems: FieldError[] = [];
  if (entries.length > MAX_EVENTS) problems.push({ field: 'setErrs', message: `must have at most ${MAX_EVENTS} members` });
  const out: Array<{ id: string; error: SetErr }> = [];
  for (const [jti, value] of entries.slice(0, MAX_EVENTS)) {
    const field = `setErrs.${jti.slice(0, 64)}`;
    const v = value as { err?: unknown; description?: unknown } | null;
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      problems.push({ field, message: 'must be an object { err, description }' });
      continue;
    }
    const extra = Object.keys(v).filter((k) => k !== 'err' && k !== 'description');
    for (const k of extra) problems.push({ field: `${field}.${k}`, message: 'is not an accepted field' });
    if (typeof v.err !== 'string' || !ERR_CODE.test(v.err))
      problems.push({ field: `${field}.err`, message: 'must be an error code (a-z, 0-9, _)' });
    if (v.description !== undefined && (typeof v.description !== 'string' || v.description.length > 1000)) {
      problems.push({ field: `${field}.description`, message: 'must be a string of at most 1000 characters' });
    }
    const id = keyOf('evt', jti);
    if (id && typeof v.err === 'string') {
      out.push({ id, error: { err: v.err, ...(typeof v.description === 'string' ? { description: v.description } : {}) } });
    }
  }
  if (problems.length > 0) throw new ValidationFailedError(problems);
  return out;
}

const unique = (ids: Array<string | undefined>) => [...new Set(ids.filter((id): id is string => id !== undefined))];

/**
 * RFC 8936 keys each SET by its own `jti`, which was signed in when the event was made: an event from before public
 * ids became opaque keeps its numeric `evt_…` there (it still resolves for acknowledgement).
 */
function jtiOf(setJws: string): string {
  return (JSON.parse(Buffer.from(setJws.split('.')[1], 'base64url').toString('utf8')) as { jti: string }).jti;
}

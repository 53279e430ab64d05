import { Readable } from 'node:stream';

import { AuditEventStream } from '../audit/audit.repository';
import { AuditEvent } from '../audit/audit-entry';
import { ExportEncoding } from './audit-event.view';

/** Lines are handed on in chunks of about this many characters: one socket write per row would cost more than the row. */
const CHUNK_CHARS = 16 * 1024;

/**
 * The bytes of an export, pulled by the HTTP response. Nothing touches the database until the response first reads
 * (so an answer that is never sent holds no connection); after that the rows flow only while the response keeps up:
 * when `push` says the buffer is full the row stream is paused, which pauses the driver's socket and so the server's
 * cursor. Destroying this stream (the client went away) closes the row stream, which stops the query.
 */
export function auditExportStream(open: () => Promise<AuditEventStream>, encoding: ExportEncoding): Readable {
  let source: AuditEventStream | undefined;
  let opening = false;
  let pending = encoding.header;

  const flush = (): boolean => {
    if (pending === '') return true;
    const more = out.push(pending);
    pending = '';
    return more;
  };

  const start = (s: AuditEventStream) => {
    source = s;
    if (out.destroyed) return void s.close();
    s.rows.on('data', (event: AuditEvent) => {
      pending += encoding.line(event);
      if (pending.length >= CHUNK_CHARS && !flush()) s.rows.pause();
    });
    s.rows.once('end', () => {
      flush();
      out.push(null);
      void s.close();
    });
    s.rows.once('error', (error) => out.destroy(error));
  };

  const out = new Readable({
    read() {
      if (source) return void source.rows.resume();
      if (opening) return;
      opening = true;
      open().then(start, (error: Error) => out.destroy(error));
    },
    destroy(error, done) {
      if (!source) return done(error);
      source.close().then(
        () => done(error),
        (closeError: Error) => done(error ?? closeError),
      );
    },
  });
  return out;
}

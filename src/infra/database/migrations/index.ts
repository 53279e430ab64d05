import { Foundation1763800000000 } from './1763800000000-foundation';
import { OutboxProbes1763800050000 } from './1763800050000-outbox-probes';

/** Every migration, in order. A new migration is added here (explicit beats a glob that silently misses one). */
export const MIGRATIONS = [Foundation1763800000000, OutboxProbes1763800050000];

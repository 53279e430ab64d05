/** One codebase, three process roles: api (HTTP), worker (jobs, relay, background loops), all (both, for local runs). */
export type ProcessRole = 'api' | 'worker' | 'all';
export const PROCESS_ROLES: ProcessRole[] = ['api', 'worker', 'all'];

/** Injection token of this process's role, for the few providers whose background work belongs to workers only. */
export const PROCESS_ROLE = Symbol('PROCESS_ROLE');

export const runsWorkers = (role: ProcessRole) => role !== 'api';
export const servesHttp = (role: ProcessRole) => role !== 'worker';

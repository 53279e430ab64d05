/**
 * The value of a JSON column holding an object or an array. MariaDB's JSON is an alias of LONGTEXT, so mysql2 hands
 * it over as text there, and already parsed on MySQL 8: one decoding for both servers.
 */
export const jsonColumn = <T extends object | null>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

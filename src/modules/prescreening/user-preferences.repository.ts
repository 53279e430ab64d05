import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

export interface UserPreferences {
  prescreenOptOut: boolean;
  updatedAt: Date | null;
}

/** user_preferences (created with the exclusion tables, migration 1763800600000): read by both criteria evaluators. */
@Injectable()
export class UserPreferencesRepository {
  constructor(private readonly dataSource: DataSource) {}

  async upsert(m: EntityManager, userId: string, prescreenOptOut: boolean): Promise<void> {
    await m.query(
      `INSERT INTO user_preferences (user_id, prescreen_opt_out, updated_at) VALUES (?, ?, NOW(3))
       ON DUPLICATE KEY UPDATE prescreen_opt_out = VALUES(prescreen_opt_out), updated_at = NOW(3)`,
      [userId, prescreenOptOut ? 1 : 0],
    );
  }

  /** A user who never set a preference has the defaults (not opted out). */
  async find(userId: string, m: EntityManager = this.dataSource.manager): Promise<UserPreferences> {
    const rows: { prescreen_opt_out: number; updated_at: Date }[] = await m.query(
      'SELECT prescreen_opt_out, updated_at FROM user_preferences WHERE user_id = ?',
      [userId],
    );
    return rows.length
      ? { prescreenOptOut: Number(rows[0].prescreen_opt_out) === 1, updatedAt: new Date(rows[0].updated_at) }
      : { prescreenOptOut: false, updatedAt: null };
  }
}

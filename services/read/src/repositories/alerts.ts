/** The alerts table of the projection DB. */
import { onlyRow } from '@pulse/core';
import type pg from 'pg';
import type { Alert } from '../schemas.js';

const ALERT_COLUMNS = `id, service_id, rule, severity, state, value, threshold,
  to_json(opened_at) #>> '{}' as opened_at, to_json(resolved_at) #>> '{}' as resolved_at`;

export interface AlertFilter {
  state?: 'open' | 'resolved' | undefined;
  serviceId?: string | undefined;
  severity?: 'warning' | 'critical' | undefined;
  /** The (opened_at, id) of the last alert of the previous page. */
  after?: [string, string] | undefined;
  limit: number;
}

/** Newest first, by opening time then id. */
export async function listAlerts(db: pg.Pool, tenantId: string, filter: AlertFilter): Promise<Alert[]> {
  const { rows } = await db.query<Alert>(
    `select ${ALERT_COLUMNS} from alerts
      where tenant_id = $1
        and ($2::text is null or state = $2)
        and ($3::uuid is null or service_id = $3)
        and ($4::text is null or severity = $4)
        and ($5::timestamptz is null or (opened_at, id) < ($5::timestamptz, $6::uuid))
      order by opened_at desc, id desc
      limit $7`,
    [
      tenantId,
      filter.state ?? null,
      filter.serviceId ?? null,
      filter.severity ?? null,
      filter.after?.[0] ?? null,
      filter.after?.[1] ?? null,
      filter.limit,
    ],
  );
  return rows;
}

export interface OpenAlertCounts {
  open: number;
  open_by_severity: { warning: number; critical: number };
}

export async function openAlertCounts(db: pg.Pool, tenantId: string): Promise<OpenAlertCounts> {
  const { rows } = await db.query<OpenAlertCounts>(
    `select count(*)::int as open,
            json_build_object('warning', count(*) filter (where severity = 'warning'),
                              'critical', count(*) filter (where severity = 'critical')) as open_by_severity
       from alerts where tenant_id = $1 and state = 'open'`,
    [tenantId],
  );
  return onlyRow(rows);
}

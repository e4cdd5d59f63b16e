/**
 * Missing-heartbeat alerts are the one projection driven by the clock rather than by an event.
 * The relay leader runs this on a timer. It locks the services' status rows, so a heartbeat being
 * applied at the same moment is either seen (no alert) or waits and then resolves the new alert.
 */
import { DEFAULT_ALERT_RULES } from '@pulse/core';
import type pg from 'pg';
import { refreshOpenAlertCounts } from './apply.js';

export async function openMissingHeartbeatAlerts(db: pg.ClientBase, now = new Date()): Promise<number> {
  const { rows } = await db.query<{ service_id: string }>(
    `with stale as (
       select s.service_id, s.tenant_id, s.last_heartbeat_at,
              coalesce((r.rules ->> 'heartbeat_missing_seconds')::int, $2) as limit_seconds
         from services_status s left join alert_rules r on r.tenant_id = s.tenant_id
        where s.last_heartbeat_at is not null
          and s.last_heartbeat_at < $1::timestamptz - make_interval(secs => coalesce((r.rules ->> 'heartbeat_missing_seconds')::int, $2))
        for update of s
     )
     insert into alerts (tenant_id, service_id, rule, severity, state, value, threshold, opened_at)
     select tenant_id, service_id, 'heartbeat', 'critical', 'open',
            extract(epoch from $1::timestamptz - last_heartbeat_at), limit_seconds, $1::timestamptz
       from stale
     on conflict (service_id, rule) where state = 'open' do nothing
     returning service_id`,
    [now.toISOString(), DEFAULT_ALERT_RULES.heartbeat_missing_seconds],
  );
  const opened = rows.map((row) => row.service_id);
  if (opened.length > 0) await refreshOpenAlertCounts(db, opened);
  return opened.length;
}

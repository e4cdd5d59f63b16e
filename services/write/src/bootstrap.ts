/** The operator's first key: PULSE_BOOTSTRAP_ADMIN_KEY, stored hashed under the `system` tenant. */
import { hashApiKey, newEventId, type Logger } from '@pulse/core';
import type pg from 'pg';
import { insertApiKey } from './repositories/api-keys.js';
import { ensureTenant } from './repositories/tenants.js';

export const SYSTEM_TENANT = 'system';

export async function storeBootstrapAdminKey(pool: pg.Pool, secret: string, logger: Logger): Promise<void> {
  const tenantId = await ensureTenant(pool, newEventId(), SYSTEM_TENANT);
  const created = await insertApiKey(pool, {
    id: newEventId(),
    tenantId,
    name: 'bootstrap-admin',
    keyHash: hashApiKey(secret),
    scopes: ['admin'],
  });
  if (created) logger.info('bootstrap admin key stored');
}

/**
 * Which tenant a service belongs to never changes: a service is deleted only with its tenant. So
 * the write path remembers the answer instead of asking the primary on every sample. A sample for
 * a service deleted since then fails the samples' foreign key, and the caller forgets the ids.
 */
import { notFound, type Queryable } from '@pulse/core';
import { LRUCache } from 'lru-cache';
import { ownedServiceIds } from './repositories/services.js';

const FOREIGN_KEY_VIOLATION = '23503';

export class ServiceOwners {
  private readonly owners: LRUCache<string, string>;

  constructor(maxServices = 100_000) {
    this.owners = new LRUCache({ max: maxServices });
  }

  /** Whether the service is remembered as the tenant's. */
  knows(tenantId: string, serviceId: string): boolean {
    return this.owners.get(serviceId) === tenantId;
  }

  /** Rejects the whole request, naming the first field that names a service the tenant lacks. */
  async require(
    tx: Queryable,
    tenantId: string,
    serviceIds: string[],
    field: (index: number) => string,
  ): Promise<void> {
    const unknown = [...new Set(serviceIds.filter((id) => !this.knows(tenantId, id)))];
    if (unknown.length === 0) return;
    const owned = await ownedServiceIds(tx, tenantId, unknown);
    for (const id of owned) this.owners.set(id, tenantId);
    const missing = serviceIds.findIndex((id) => !this.knows(tenantId, id));
    if (missing >= 0) throw notFound(`service ${serviceIds[missing]} not found`, field(missing));
  }

  /** Runs an insert for these services; a foreign-key failure means one was deleted meanwhile: 404. */
  async inserting<T>(serviceIds: string[], field: string, insert: () => Promise<T>): Promise<T> {
    try {
      return await insert();
    } catch (error) {
      if ((error as { code?: unknown }).code !== FOREIGN_KEY_VIOLATION) throw error;
      for (const id of serviceIds) this.owners.delete(id);
      throw notFound('a service of this request no longer exists', field);
    }
  }
}

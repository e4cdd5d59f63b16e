import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';

describe('local stack: PostgreSQL write cluster and projection server', () => {
  let stack: TestStack;
  const clients: pg.Client[] = [];
  const connect = async (url: string | undefined) => {
    assert.ok(url, 'the stack exports the database URL');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  };

  before(async () => {
    stack = await testStack(['postgres']);
  });
  after(async () => {
    for (const client of clients) await client.end();
    await stack.release();
  });

  it('streams a row committed on the primary to the replica', async () => {
    const primary = await connect(stack.env.PULSE_WRITE_DATABASE_URL);
    const replica = await connect(stack.env.PULSE_REPLICA_DATABASE_URL);
    const marker = `smoke-${process.pid}-${Date.now()}`;
    await primary.query('create table if not exists harness_smoke (marker text primary key)');
    await primary.query('insert into harness_smoke values ($1)', [marker]);
    const seen = await waitFor(
      'the row on the replica',
      async () => {
        const { rows } = await replica.query('select marker from harness_smoke where marker = $1', [marker]);
        return rows.length === 1;
      },
      { timeoutMs: 15_000 },
    );
    assert.equal(seen, true);
  });

  it('serves the replica read-only and in recovery', async () => {
    const replica = await connect(stack.env.PULSE_REPLICA_DATABASE_URL);
    const { rows } = await replica.query<{ in_recovery: boolean }>(
      'select pg_is_in_recovery() as in_recovery',
    );
    assert.equal(rows[0]?.in_recovery, true);
    await assert.rejects(replica.query('create table harness_forbidden (x int)'), { code: '25006' });
  });

  it('keeps the projection database on a separate server', async () => {
    const primary = await connect(stack.env.PULSE_WRITE_DATABASE_URL);
    const projection = await connect(stack.env.PULSE_PROJECTION_DATABASE_URL);
    const systemId = async (client: pg.Client) =>
      (await client.query<{ id: string }>('select system_identifier::text as id from pg_control_system()'))
        .rows[0]?.id;
    assert.notEqual(await systemId(primary), await systemId(projection));
    const { rows } = await projection.query<{ in_recovery: boolean }>(
      'select pg_is_in_recovery() as in_recovery',
    );
    assert.equal(rows[0]?.in_recovery, false);
  });
});

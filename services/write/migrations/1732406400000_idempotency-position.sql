-- Up Migration
-- A command's idempotency record is now written once, at the end of its transaction and in the
-- same statement as its outbox rows (one round trip fewer than claim-then-update). Its answer's
-- position is rebuilt from the transaction id and event count stored here; rows written before
-- keep the position inside `response`.
alter table idempotency_keys
  add column txid xid8 not null default pg_current_xact_id(),
  add column events int not null default 0;

-- Down Migration
alter table idempotency_keys drop column txid, drop column events;

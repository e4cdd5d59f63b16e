-- Up Migration
-- A repeated registration answers with the position of the one that created the service. It used
-- to look for that in the outbox, which has no index by service: every repeat scanned the whole
-- outbox (a day of events by default), and found nothing once the row had been purged. The
-- services row now keeps its registering transaction; rows from before take it from the outbox
-- while it is still there.
alter table services add column registered_txid xid8;
update services s set registered_txid = o.txid
  from outbox o
 where o.aggregate_id = s.id and o.type = 'service.registered';
-- Set after the backfill, so that no existing row gets this migration's transaction id.
alter table services alter column registered_txid set default pg_current_xact_id();

-- Down Migration
alter table services drop column registered_txid;

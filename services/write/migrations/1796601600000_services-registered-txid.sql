-- Up Migration
-- A repeated registration answers with the position of the one that created the service. It used
-- to look for that in the outbox, which has no index by service: every repeat scanned the whole
-- outbox (a day of events by default), and found nothing once the relay had purged the row. The
-- services row now keeps its registering transaction. Rows from before stay null, and answer
-- without a position, as they did once purged: filling them from the outbox would hold this
-- table's lock, and with it every write, through a pass over the whole outbox.
alter table services add column registered_txid xid8;
-- Set after the column exists, so that no existing row gets this migration's transaction id.
alter table services alter column registered_txid set default pg_current_xact_id();

-- Down Migration
alter table services drop column registered_txid;

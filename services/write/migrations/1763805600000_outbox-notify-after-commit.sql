-- Up Migration
-- The relay is woken by the write service after each commit instead (src/relay-wake.ts): a NOTIFY
-- inside the command's transaction serialises all notifying commits of the cluster, WAL flush
-- included, behind one lock.
drop trigger outbox_notify on outbox;
drop function pulse_outbox_notify();

-- Down Migration
create function pulse_outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('pulse_outbox', '');
  return null;
end $$;
create trigger outbox_notify after insert on outbox for each statement execute function pulse_outbox_notify();

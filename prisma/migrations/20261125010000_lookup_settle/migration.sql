-- When the last send of a delivery got a provider 5xx. A provider's list lags behind the messages it holds: until
-- it has had time to show a message that answer may have left behind, "not in the list" proves nothing, and the send
-- guard waits rather than send again.
ALTER TABLE "deliveries" ADD COLUMN "lookup_since" TIMESTAMPTZ(3);

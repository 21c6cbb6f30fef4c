-- Runs are found by the source's event id (the dashboard's and the API's ?event=).
CREATE INDEX events_source_event_id ON events (source_event_id);

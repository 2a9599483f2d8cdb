-- 0002-import.sql: the receiving side (docs/design/import.md): import
-- jobs that retrieve a study sent to this site from the clearinghouse
-- and C-STORE it into a local PACS.
--
-- Applied by shared/migrate.c inside one transaction together with its
-- schema_version row: no BEGIN/COMMIT here. Conventions of 0001-edge.sql.
-- Nothing secret in clear: the token (or access code) and password stay
-- sealed under the site's key-encryption key (sealed_secrets) only while
-- the study is still to be retrieved, and are erased after.

CREATE TABLE import_codes (
	code		integer PRIMARY KEY,
	meaning		text NOT NULL
);
INSERT INTO import_codes (code, meaning) VALUES
	(1, 'Waiting to retrieve from the clearinghouse'),
	(10, 'Retrieving from the clearinghouse'),
	(20, 'Retrieved; waiting to store into the PACS'),
	(30, 'Storing into the PACS'),
	(40, 'Completed import into the PACS'),
	(-10, 'Nothing found for these details'),
	(-11, 'Failed to retrieve from the clearinghouse'),
	(-30, 'Failed to store into the PACS'),
	(-40, 'Import cancelled');

CREATE TABLE imports (
	id		bigserial PRIMARY KEY,
	study_uid	text NOT NULL,
	pacs		text NOT NULL,		-- edge.yaml pacs[].name
	scheme		text NOT NULL DEFAULT 'any' CHECK (scheme IN ('any',
			    'isn2', 'rsna-token', 'rsna-access-code')),
	sealed_secrets	bytea,			-- NULL once retrieved
	-- Reconciliation (import.reconcile): the local values staff
	-- entered; NULL stores the study as received.
	local_mrn	text,
	local_accession	text,
	status		integer REFERENCES import_codes (code),
	remaining_retries integer NOT NULL DEFAULT 10
			    CHECK (remaining_retries >= 0),
	next_attempt	timestamptz,
	instances	integer,		-- retrieved
	report_text	text,			-- the report retrieved with it
	created_by	text NOT NULL,
	created		timestamptz NOT NULL DEFAULT now(),
	updated		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imports_queue_idx ON imports (status, next_attempt);

-- Every status of an import with its reason (append-only).
CREATE TABLE import_history (
	id		bigserial PRIMARY KEY,
	import_id	bigint NOT NULL REFERENCES imports (id),
	status		integer NOT NULL REFERENCES import_codes (code),
	reason		text,
	at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_history_import_idx ON import_history (import_id, id DESC);
CREATE TRIGGER import_history_append_only BEFORE UPDATE OR DELETE
	ON import_history FOR EACH ROW EXECUTE FUNCTION edge_append_only();

CREATE FUNCTION edge_import_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE imports SET status = NEW.status, updated = NEW.at
	    WHERE id = NEW.import_id;
	RETURN NEW;
END $$;
CREATE TRIGGER import_history_status AFTER INSERT ON import_history
	FOR EACH ROW EXECUTE FUNCTION edge_import_status();

-- The instances of an import: stored once the PACS accepted them (the
-- spool file is then deleted), failed with the PACS's reason otherwise.
CREATE TABLE import_instances (
	import_id	bigint NOT NULL REFERENCES imports (id),
	sop_uid		text NOT NULL,
	series_uid	text NOT NULL,
	state		text NOT NULL DEFAULT 'pending'
			    CHECK (state IN ('pending', 'stored', 'failed')),
	attempts	integer NOT NULL DEFAULT 0,
	reason		text,
	stored_at	timestamptz,
	PRIMARY KEY (import_id, sop_uid)
);

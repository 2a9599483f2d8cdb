-- 0001-edge.sql: the edge database (docs/design/edge.md, docs/design/ris.md).
--
-- Applied by shared/migrate.c inside one transaction together with its
-- schema_version row: no BEGIN/COMMIT here.
--
-- Conventions:
--  * every time is timestamptz (an instant; shown in UTC by the daemon);
--    HL7 times without an offset are converted by the RIS feed from the
--    site's time zone (edge.yaml site.time_zone) before they get here;
--  * history tables (exam_status, job_history, patient_merges) are
--    append-only: a trigger refuses UPDATE and DELETE;
--  * nothing secret is stored in clear: no token, password or access code
--    (job_sets keeps the derived patient id and, for isn2, the content key
--    wrapped under the edge's key-encryption key only).

-- Patients as the RIS knows them: MRN with its assigning authority (PID-3
-- CX.1 and CX.4; '' when the RIS sends none). Demographics as received,
-- updated by ADT^A08 and by each order or result that carries them.
CREATE TABLE patients (
	id		bigserial PRIMARY KEY,
	mrn		text NOT NULL,
	authority	text NOT NULL DEFAULT '',
	family_name	text,			-- PID-5.1
	given_name	text,			-- PID-5.2
	middle_name	text,			-- PID-5.3
	birth_date	date,			-- PID-7
	sex		text,			-- PID-8 as received
	merged_into	bigint REFERENCES patients (id),  -- A18/A40 survivor
	created		timestamptz NOT NULL DEFAULT now(),
	updated		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (mrn, authority),
	CHECK (merged_into IS NULL OR merged_into <> id)
);
-- Search by MRN or name: case-insensitive prefix (lower(x) LIKE 'p%').
CREATE INDEX patients_mrn_prefix_idx ON patients (lower(mrn) text_pattern_ops);
CREATE INDEX patients_family_prefix_idx
	ON patients (lower(family_name) text_pattern_ops);
CREATE INDEX patients_given_prefix_idx
	ON patients (lower(given_name) text_pattern_ops);
CREATE INDEX patients_merged_into_idx ON patients (merged_into)
	WHERE merged_into IS NOT NULL;

-- Exams (orders): the accession number is unique per patient. An exam of
-- a merged-away patient whose accession the survivor already had keeps
-- its row and points at the survivor's exam (merged_into).
CREATE TABLE exams (
	id		bigserial PRIMARY KEY,
	patient_id	bigint NOT NULL REFERENCES patients (id),
	accession	text NOT NULL,
	description	text,			-- OBR-4.2 (or .1)
	modality	text,			-- OBR-24
	merged_into	bigint REFERENCES exams (id),
	created		timestamptz NOT NULL DEFAULT now(),
	updated		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (patient_id, accession),
	CHECK (merged_into IS NULL OR merged_into <> id)
);
CREATE INDEX exams_accession_idx ON exams (accession);

-- The append-only status and report history of each exam: one row per
-- distinct (status, status time, report text); a repeated message is
-- stored once. The latest state of an exam is its row with the highest id.
CREATE TABLE exam_status (
	id		bigserial PRIMARY KEY,
	exam_id		bigint NOT NULL REFERENCES exams (id),
	status		text NOT NULL CHECK (status IN ('scheduled',
			    'in-progress', 'completed', 'preliminary', 'final',
			    'corrected', 'cancelled')),
	status_raw	text NOT NULL,		-- the RIS's code, e.g. F, CM
	status_field	text NOT NULL,		-- OBR-25, ORC-5 or ORC-1
	status_time	timestamptz NOT NULL,	-- OBR-22 or ORC-15
	report_text	text,			-- OBX-5 lines, unescaped
	-- Equality key of the text for the repeat check (not a secret).
	report_md5	text NOT NULL GENERATED ALWAYS AS
			    (md5(coalesce(report_text, ''))) STORED,
	signer		text,			-- OBR-32
	control_id	text,			-- MSH-10 of the message
	received	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX exam_status_once_idx
	ON exam_status (exam_id, status_raw, status_time, report_md5);
CREATE INDEX exam_status_exam_idx ON exam_status (exam_id, id DESC);

-- ADT^A18 / ADT^A40: what was merged into what, and how many exams moved.
CREATE TABLE patient_merges (
	id		bigserial PRIMARY KEY,
	survivor_id	bigint NOT NULL REFERENCES patients (id),
	prior_id	bigint NOT NULL REFERENCES patients (id),
	event		text NOT NULL CHECK (event IN ('A18', 'A40')),
	exams_moved	integer NOT NULL,
	exams_merged	integer NOT NULL,	-- accession already at survivor
	control_id	text,
	merged_at	timestamptz NOT NULL DEFAULT now()
);

-- Job status codes and meanings of the RSNA edge (rsna-edge.md 6.2).
CREATE TABLE status_codes (
	code		integer PRIMARY KEY,
	meaning		text NOT NULL
);
INSERT INTO status_codes (code, meaning) VALUES
	(1, 'Waiting to retrieve images and report'),
	(21, 'Waiting for report finalization'),
	(22, 'Waiting for job delay to expire'),
	(23, 'Started DICOM C-MOVE'),
	(24, 'Waiting for exam completion'),
	(30, 'Waiting to start transfer to clearinghouse'),
	(31, 'Started processing input data'),
	(32, 'Started patient registration'),
	(33, 'Retrieving global id'),
	(34, 'Started document submission'),
	(40, 'Completed transfer to clearinghouse'),
	(-1, 'No devices found'),
	(-20, 'Failed to prepare content'),
	(-21, 'Unable to find images'),
	(-23, 'DICOM C-MOVE failed'),
	(-24, 'Exam has been canceled'),
	(-30, 'Failed to transfer to clearinghouse'),
	(-32, 'Failed to register patient'),
	(-33, 'Failed to retrieve global id'),
	(-34, 'Failed to submit documents');

-- A request by staff to send chosen exams of one patient. Never holds the
-- token, the password or an access code: rsna_id is the derived patient
-- id (PROFILE.md section 3) and wrapped_key, for isn2, the content key
-- encrypted under the edge's key-encryption key.
CREATE TABLE job_sets (
	id		bigserial PRIMARY KEY,
	patient_id	bigint NOT NULL REFERENCES patients (id),
	destination	text NOT NULL CHECK (destination IN ('patient', 'site')),
	site_id		text,			-- the receiving site
	scheme		text NOT NULL DEFAULT 'isn2'
			    CHECK (scheme IN ('isn2', 'rsna-token')),
	urgency		text NOT NULL DEFAULT 'routine'
			    CHECK (urgency IN ('routine', 'final', 'immediate')),
	delay		interval NOT NULL DEFAULT '72 hours'
			    CHECK (delay >= '0'::interval),
	rsna_id		text NOT NULL,		-- RSNA-ID / patient id string
	wrapped_key	bytea,
	created_by	text NOT NULL,
	created		timestamptz NOT NULL DEFAULT now(),
	CHECK ((destination = 'site') = (site_id IS NOT NULL))
);
CREATE INDEX job_sets_patient_idx ON job_sets (patient_id);

-- One exam of a job set. status mirrors the newest job_history row (kept
-- by the trigger below) so the work queue needs no join.
CREATE TABLE jobs (
	id		bigserial PRIMARY KEY,
	job_set_id	bigint NOT NULL REFERENCES job_sets (id),
	exam_id		bigint NOT NULL REFERENCES exams (id),
	status		integer REFERENCES status_codes (code),
	remaining_retries integer NOT NULL DEFAULT 10
			    CHECK (remaining_retries >= 0),
	next_attempt	timestamptz,
	updated		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (job_set_id, exam_id)
);
CREATE INDEX jobs_queue_idx ON jobs (status, next_attempt);
CREATE INDEX jobs_exam_idx ON jobs (exam_id);

-- The append-only history of each job: every status with its reason.
CREATE TABLE job_history (
	id		bigserial PRIMARY KEY,
	job_id		bigint NOT NULL REFERENCES jobs (id),
	status		integer NOT NULL REFERENCES status_codes (code),
	reason		text,
	at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_history_job_idx ON job_history (job_id, id DESC);

CREATE FUNCTION edge_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
	    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER exam_status_append_only BEFORE UPDATE OR DELETE
	ON exam_status FOR EACH ROW EXECUTE FUNCTION edge_append_only();
CREATE TRIGGER job_history_append_only BEFORE UPDATE OR DELETE
	ON job_history FOR EACH ROW EXECUTE FUNCTION edge_append_only();
CREATE TRIGGER patient_merges_append_only BEFORE UPDATE OR DELETE
	ON patient_merges FOR EACH ROW EXECUTE FUNCTION edge_append_only();

CREATE FUNCTION edge_job_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE jobs SET status = NEW.status, updated = NEW.at
	    WHERE id = NEW.job_id;
	RETURN NEW;
END $$;
CREATE TRIGGER job_history_status AFTER INSERT ON job_history
	FOR EACH ROW EXECUTE FUNCTION edge_job_status();

-- The patient of a message, created or updated with the values given
-- (NULL keeps what is stored). Returns the id to attach exams to: the
-- survivor when this MRN was merged away (unless p_follow is false).
CREATE FUNCTION edge_patient_upsert(p_mrn text, p_authority text,
    p_family text, p_given text, p_middle text, p_birth date, p_sex text,
    p_follow boolean DEFAULT true)
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r	patients%ROWTYPE;
BEGIN
	INSERT INTO patients AS p (mrn, authority, family_name, given_name,
	    middle_name, birth_date, sex)
	VALUES (p_mrn, p_authority, p_family, p_given, p_middle, p_birth, p_sex)
	ON CONFLICT (mrn, authority) DO UPDATE SET
	    family_name = coalesce(EXCLUDED.family_name, p.family_name),
	    given_name = coalesce(EXCLUDED.given_name, p.given_name),
	    middle_name = coalesce(EXCLUDED.middle_name, p.middle_name),
	    birth_date = coalesce(EXCLUDED.birth_date, p.birth_date),
	    sex = coalesce(EXCLUDED.sex, p.sex),
	    updated = now()
	RETURNING * INTO r;
	IF p_follow THEN
		RETURN coalesce(r.merged_into, r.id);
	END IF;
	RETURN r.id;
END $$;

-- One OBR of an ORM or ORU: the exam created or updated, then one status
-- row unless the same (status, time, text) is already there. Returns true
-- when a status row was added, false for a repeat.
CREATE FUNCTION edge_exam_status(p_patient bigint, p_accession text,
    p_description text, p_modality text, p_status text, p_status_raw text,
    p_status_field text, p_status_time timestamptz, p_report text,
    p_signer text, p_control_id text)
    RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	e	exams%ROWTYPE;
	n	integer;
BEGIN
	INSERT INTO exams AS x (patient_id, accession, description, modality)
	VALUES (p_patient, p_accession, p_description, p_modality)
	ON CONFLICT (patient_id, accession) DO UPDATE SET
	    description = coalesce(EXCLUDED.description, x.description),
	    modality = coalesce(EXCLUDED.modality, x.modality),
	    updated = now()
	RETURNING * INTO e;
	INSERT INTO exam_status (exam_id, status, status_raw, status_field,
	    status_time, report_text, signer, control_id)
	VALUES (coalesce(e.merged_into, e.id), p_status, p_status_raw,
	    p_status_field, p_status_time, p_report, p_signer, p_control_id)
	ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n > 0;
END $$;

-- ADT^A18 / ADT^A40: the prior MRN's exams and job sets move to the
-- survivor (an accession the survivor already has stays on its exam row,
-- pointing at the survivor's exam), every id merged into the prior one
-- follows, and the merge is recorded. An unknown prior MRN is created
-- already merged, so later orders for it reach the survivor. Returns the
-- number of exams moved.
CREATE FUNCTION edge_patient_merge(p_survivor bigint, p_mrn text,
    p_authority text, p_event text, p_control_id text)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	prior	bigint;
	moved	integer;
	merged	integer;
BEGIN
	INSERT INTO patients (mrn, authority) VALUES (p_mrn, p_authority)
	    ON CONFLICT (mrn, authority) DO NOTHING;
	SELECT id INTO prior FROM patients
	    WHERE mrn = p_mrn AND authority = p_authority FOR UPDATE;
	IF prior = p_survivor THEN
		RAISE EXCEPTION 'a patient cannot be merged into itself'
		    USING ERRCODE = 'check_violation';
	END IF;
	UPDATE exams SET patient_id = p_survivor, updated = now()
	    WHERE patient_id = prior AND accession NOT IN
	    (SELECT accession FROM exams WHERE patient_id = p_survivor);
	GET DIAGNOSTICS moved = ROW_COUNT;
	UPDATE exams x SET merged_into = s.id, updated = now()
	    FROM exams s
	    WHERE x.patient_id = prior AND s.patient_id = p_survivor
	    AND s.accession = x.accession AND x.merged_into IS NULL;
	GET DIAGNOSTICS merged = ROW_COUNT;
	UPDATE job_sets SET patient_id = p_survivor WHERE patient_id = prior;
	UPDATE patients SET merged_into = p_survivor, updated = now()
	    WHERE (id = prior OR merged_into = prior) AND id <> p_survivor;
	UPDATE patients SET merged_into = NULL, updated = now()
	    WHERE id = p_survivor AND merged_into = prior;
	INSERT INTO patient_merges (survivor_id, prior_id, event, exams_moved,
	    exams_merged, control_id)
	VALUES (p_survivor, prior, p_event, moved, merged, p_control_id);
	RETURN moved;
END $$;

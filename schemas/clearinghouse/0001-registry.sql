-- 0001-registry.sql: the clearinghouse XDS registry (PROFILE.md section 7).
--
-- Applied by clearinghouse/migrate.c inside one transaction, together with
-- its schema_version row; migrate.c creates schema_version itself
-- (version integer PRIMARY KEY, name text, applied_at timestamptz) before
-- reading it.  No BEGIN/COMMIT and no CREATE INDEX CONCURRENTLY here.
--
-- Conventions:
--  * status columns hold the full ebRIM URN
--    (urn:oasis:names:tc:ebxml-regrep:StatusType:Approved ...), as the
--    stored query parameters carry it;
--  * coded values are (code, scheme) pairs: the code value and the
--    codingScheme slot;
--  * XDS times (creationTime, serviceStartTime, ...) are DTM text normalised
--    by the writer to 14 digits (YYYYMMDDhhmmss, UTC, padded with zeros) so
--    that text comparison is time order, as the stored queries need;
--  * every object keeps its full ebRIM XML (ebrim) for LeafClass answers;
--  * rows of a submission go away with the submission set (ON DELETE
--    CASCADE): the reaper deletes expired submission_sets in batches.

-- Patients in the affinity domain: the RSNA-ID with its assigning
-- authority OID (PROFILE.md section 3).
CREATE TABLE patients (
	id		bigserial PRIMARY KEY,
	pid		text NOT NULL,		-- id value (CX.1)
	domain_oid	text NOT NULL,		-- assigning authority (CX.4.2)
	merged_into	bigint REFERENCES patients (id),
	created		timestamptz NOT NULL DEFAULT now(),
	updated		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (pid, domain_oid),
	CHECK (merged_into IS NULL OR merged_into <> id)
);
CREATE INDEX patients_merged_into_idx ON patients (merged_into)
	WHERE merged_into IS NOT NULL;

CREATE TABLE submission_sets (
	id			bigserial PRIMARY KEY,
	entry_uuid		text NOT NULL UNIQUE,
	unique_id		text NOT NULL UNIQUE,
	source_id		text NOT NULL,
	patient_id		bigint NOT NULL REFERENCES patients (id),
	status			text NOT NULL,
	submission_time		text NOT NULL,	-- DTM, 14 digits
	content_type_code	text,
	content_type_scheme	text,
	submitter		text,		-- peer certificate identity
	ebrim			text NOT NULL,
	received_at		timestamptz NOT NULL DEFAULT now(),
	expires_at		timestamptz NOT NULL
				DEFAULT now() + interval '30 days',
	CHECK (expires_at >= received_at)
);
-- FindSubmissionSets: patient + status, then submissionTime range.
CREATE INDEX submission_sets_patient_idx
	ON submission_sets (patient_id, status, submission_time);
-- Retention: the reaper takes the oldest expired sets in batches.
CREATE INDEX submission_sets_expires_idx ON submission_sets (expires_at);

CREATE TABLE submission_set_authors (
	submission_set_id	bigint NOT NULL
				REFERENCES submission_sets (id) ON DELETE CASCADE,
	person			text NOT NULL
);
CREATE INDEX submission_set_authors_idx
	ON submission_set_authors (submission_set_id);

CREATE TABLE documents (
	id			bigserial PRIMARY KEY,
	entry_uuid		text NOT NULL UNIQUE,
	unique_id		text NOT NULL,
	logical_id		text,
	version			integer NOT NULL DEFAULT 1,
	repository_unique_id	text NOT NULL,
	submission_set_id	bigint NOT NULL
				REFERENCES submission_sets (id) ON DELETE CASCADE,
	patient_id		bigint NOT NULL REFERENCES patients (id),
	status			text NOT NULL,
	object_type		text NOT NULL,	-- stable / on-demand UUID
	mime_type		text NOT NULL,
	hash			text,		-- SHA-1, lower-case hex
	size			bigint CHECK (size >= 0),
	blob_id			text		-- blob store id (blob.md)
				CHECK (blob_id ~ '^[0-9a-f]{32}$'),
	creation_time		text,		-- DTM, 14 digits
	service_start_time	text,
	service_stop_time	text,
	class_code		text,
	class_scheme		text,
	type_code		text,
	type_scheme		text,
	format_code		text,
	format_scheme		text,
	practice_setting_code	text,
	practice_setting_scheme	text,
	hcft_code		text,		-- healthcareFacilityTypeCode
	hcft_scheme		text,
	language_code		text,
	title			text,
	ebrim			text NOT NULL,
	created			timestamptz NOT NULL DEFAULT now(),
	UNIQUE (repository_unique_id, unique_id)
);
-- FindDocuments: patient + status (+ codes) + time ranges, patient first.
CREATE INDEX documents_patient_idx
	ON documents (patient_id, status, creation_time);
CREATE INDEX documents_patient_class_idx
	ON documents (patient_id, class_code, type_code);
-- GetDocuments by uniqueId (any repository), by logicalId.
CREATE INDEX documents_unique_id_idx ON documents (unique_id);
CREATE INDEX documents_logical_id_idx ON documents (logical_id)
	WHERE logical_id IS NOT NULL;
-- GetSubmissionSetAndContents, cascade deletes, blob sweeper.
CREATE INDEX documents_submission_set_idx ON documents (submission_set_id);
CREATE INDEX documents_blob_idx ON documents (blob_id)
	WHERE blob_id IS NOT NULL;

-- Multi-valued codes of a document entry.
CREATE TABLE document_codes (
	document_id	bigint NOT NULL
			REFERENCES documents (id) ON DELETE CASCADE,
	kind		text NOT NULL
			CHECK (kind IN ('confidentiality', 'event')),
	code		text NOT NULL,
	scheme		text NOT NULL DEFAULT ''
);
CREATE INDEX document_codes_code_idx
	ON document_codes (kind, code, scheme, document_id);
CREATE INDEX document_codes_document_idx ON document_codes (document_id);

CREATE TABLE document_authors (
	document_id	bigint NOT NULL
			REFERENCES documents (id) ON DELETE CASCADE,
	person		text NOT NULL
);
CREATE INDEX document_authors_idx ON document_authors (document_id);

-- FindDocumentsByReferenceId (referenceIdList, CXi values).
CREATE TABLE document_refs (
	document_id	bigint NOT NULL
			REFERENCES documents (id) ON DELETE CASCADE,
	ref_id		text NOT NULL
);
CREATE INDEX document_refs_ref_idx ON document_refs (ref_id, document_id);
CREATE INDEX document_refs_document_idx ON document_refs (document_id);

-- RAD-69: the DICOM instances a document (KOS or instance) carries.
CREATE TABLE document_instances (
	document_id	bigint NOT NULL
			REFERENCES documents (id) ON DELETE CASCADE,
	study_uid	text NOT NULL,
	series_uid	text NOT NULL,
	sop_uid		text NOT NULL,
	sop_class_uid	text,
	transfer_syntax	text
);
CREATE INDEX document_instances_uid_idx
	ON document_instances (study_uid, series_uid, sop_uid);
CREATE INDEX document_instances_sop_idx ON document_instances (sop_uid);
CREATE INDEX document_instances_document_idx
	ON document_instances (document_id);

CREATE TABLE folders (
	id			bigserial PRIMARY KEY,
	entry_uuid		text NOT NULL UNIQUE,
	unique_id		text NOT NULL UNIQUE,
	submission_set_id	bigint NOT NULL
				REFERENCES submission_sets (id) ON DELETE CASCADE,
	patient_id		bigint NOT NULL REFERENCES patients (id),
	status			text NOT NULL,
	last_update_time	text,		-- DTM, 14 digits
	ebrim			text NOT NULL
);
-- FindFolders: patient + status + lastUpdateTime range.
CREATE INDEX folders_patient_idx
	ON folders (patient_id, status, last_update_time);
CREATE INDEX folders_submission_set_idx ON folders (submission_set_id);

CREATE TABLE folder_codes (
	folder_id	bigint NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
	code		text NOT NULL,
	scheme		text NOT NULL DEFAULT ''
);
CREATE INDEX folder_codes_code_idx ON folder_codes (code, scheme, folder_id);
CREATE INDEX folder_codes_folder_idx ON folder_codes (folder_id);

-- Associations (HasMember, RPLC, XFRM, APND, signs ...).  source and target
-- are entryUUIDs: the target may live in an earlier submission set.
CREATE TABLE associations (
	id			bigserial PRIMARY KEY,
	entry_uuid		text NOT NULL UNIQUE,
	assoc_type		text NOT NULL,
	source_uuid		text NOT NULL,
	target_uuid		text NOT NULL,
	status			text NOT NULL,
	submission_set_id	bigint NOT NULL
				REFERENCES submission_sets (id) ON DELETE CASCADE,
	ebrim			text NOT NULL
);
-- GetAssociations / GetRelatedDocuments / GetFoldersForDocument.
CREATE INDEX associations_source_idx ON associations (source_uuid, assoc_type);
CREATE INDEX associations_target_idx ON associations (target_uuid, assoc_type);
CREATE INDEX associations_submission_set_idx
	ON associations (submission_set_id);

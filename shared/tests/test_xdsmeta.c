/*
 * test_xdsmeta.c: the XDS metadata model read from the network samples,
 * written back (round trips, XSD validation against the pinned schemas),
 * symbolic ids replaced by UUIDs, and this network's builders.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <openssl/evp.h>

#include "dbuf.h"
#include "tap.h"
#include "xdsmeta.h"
#include "xmalloc.h"
#include "xml.h"

#define NSAMPLE_POINTS	77	/* points skipped without ../shared */

/* Parse a sample of ../shared/xds-samples; NULL (and a failed point) if not. */
static struct xds_submission *
sample(const char *shared, const char *file)
{
	struct xds_submission	*sub;
	char			 path[4096], *buf, *cause = NULL;
	size_t			 len;

	snprintf(path, sizeof(path), "%s/xds-samples/%s", shared, file);
	if ((buf = tap_slurp(path, &len)) == NULL) {
		ok(0, "read %s", path);
		return (NULL);
	}
	sub = xdsmeta_parse_buf(buf, len, &cause);
	if (!ok(sub != NULL, "parse %s", file))
		tap_diag("%s", cause);
	free(cause);
	free(buf);
	return (sub);
}

/* Write, parse again and compare; also returns the SOR text if wanted. */
static int
roundtrip(const struct xds_submission *sub, int how, char **textp)
{
	struct xds_submission	*again;
	struct dbuf		 b;
	char			*cause = NULL;
	int			 same;

	dbuf_init(&b, 64 << 20);
	if (xdsmeta_write(&b, sub, how) == -1) {
		dbuf_free(&b);
		return (0);
	}
	again = xdsmeta_parse_buf(b.data, b.len, &cause);
	same = again != NULL && xdsmeta_equal(sub, again) &&
	    again->errors.n == 0;
	if (again == NULL)
		tap_diag("reparse: %s", cause);
	free(cause);
	xdsmeta_free(again);
	if (textp != NULL)
		*textp = dbuf_take(&b, NULL);
	else
		dbuf_free(&b);
	return (same);
}

/* The slot of that name among free slots, or NULL. */
static const struct xds_slot *
extra_slot(const struct xds_slotv *sl, const char *name)
{
	size_t	i;

	for (i = 0; i < sl->n; i++)
		if (strcmp(sl->v[i].name, name) == 0)
			return (&sl->v[i]);
	return (NULL);
}

/* ------------------------------------------------------------------ */

/* schemas/xsd against SHA256SUMS and against ../shared. */
static void
test_pinned(const char *shared)
{
	char		 path[4096], *sums, *line, *next, *a, *b, hex[65];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, i;
	size_t		 alen, blen;
	int		 n = 0, good = 0, same = 0;

	snprintf(path, sizeof(path), "%s/schemas/xsd/SHA256SUMS",
	    tap_srcdir());
	if ((sums = tap_slurp(path, NULL)) == NULL) {
		ok(0, "read %s", path);
		return;
	}
	for (line = sums; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strlen(line) < 67)
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/schemas/xsd/%s", tap_srcdir(),
		    line + 66);
		if ((a = tap_slurp(path, &alen)) == NULL) {
			tap_diag("cannot read %s", path);
			continue;
		}
		if (EVP_Digest(a, alen, md, &mdlen, EVP_sha256(), NULL) == 1) {
			for (i = 0; i < mdlen; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			if (strncmp(hex, line, 64) == 0)
				good++;
			else
				tap_diag("%s: sha256 %s", line + 66, hex);
		}
		if (shared != NULL) {
			snprintf(path, sizeof(path), "%s/xds-samples/schema/%s",
			    shared, line + 66);
			if ((b = tap_slurp(path, &blen)) != NULL &&
			    blen == alen && memcmp(a, b, alen) == 0)
				same++;
			else
				tap_diag("%s differs from ../shared", line + 66);
			free(b);
		}
		free(a);
	}
	free(sums);
	is_int(n, 8, "SHA256SUMS lists the 8 pinned XSDs");
	is_int(good, n, "every pinned XSD matches SHA256SUMS");
	if (shared != NULL)
		is_int(same, n, "pinned XSDs equal ../shared byte for byte");
	else
		tap_skip(1, "../shared not present");
}

/* IPF's SubmitObjectsRequest: field by field. */
static void
test_ipf(const char *shared)
{
	struct xds_submission		*sub;
	const struct xds_docentry	*de;
	const struct xds_subset		*ss;
	const struct xds_author		*au;

	if ((sub = sample(shared, "iti41/ipf-SubmitObjectsRequest_ebrs30.xml"))
	    == NULL) {
		tap_skip(33, "parse failed");
		return;
	}
	is_int(sub->ndocs, 1, "ipf: one entry");
	is_int(sub->nsubsets, 1, "ipf: one set");
	is_int(sub->nassocs, 2, "ipf: two associations");
	is_int(sub->errors.n, 4, "ipf: four schemes with a space");
	de = &sub->docs[0];
	ss = &sub->subsets[0];
	is_str(de->o.id, "Document01", "ipf: entry id");
	is_str(de->mime_type, "text/xml", "ipf: mimeType");
	is_str(de->o.object_type, XDS_DE_STABLE, "ipf: objectType");
	is_str(xdsmeta_val(&de->creation_time), "20051224", "ipf: creationTime");
	is_str(xdsmeta_val(&de->language_code), "en-us", "ipf: languageCode");
	is_str(xdsmeta_val(&de->service_stop_time), "200412230801",
	    "ipf: serviceStopTime");
	is_int(de->source_patient_info.values.n, 5, "ipf: sourcePatientInfo");
	is_str(de->source_patient_info.values.v[2], "PID-7|19560527",
	    "ipf: PID-7 kept verbatim");
	is_str(de->o.title, "Physical", "ipf: title");
	ok(de->o.comments == NULL, "ipf: empty Description is no comment");
	is_int(de->authors.n, 1, "ipf: one author");
	au = &de->authors.v[0];
	is_str(au->id, "cl01", "ipf: author classification id");
	is_str(au->person.v[0], "Gerald Smitty", "ipf: authorPerson");
	is_int(au->institution.n, 2, "ipf: two institutions");
	is_str(au->role.v[0], "Attending", "ipf: authorRole");
	ok(au->specialty.n == 0 && au->extra.n == 1 &&
	    strcmp(au->extra.v[0].name, "authorSpeciality") == 0,
	    "ipf: misspelt authorSpeciality kept as an extra slot");
	is_str(de->class_code.v[0].code, "History and Physical",
	    "ipf: classCode");
	is_str(de->class_code.v[0].scheme, "Connect-a-thon classCodes",
	    "ipf: classCode scheme");
	is_str(de->type_code.v[0].display,
	    "Outpatient Evaluation And Management", "ipf: typeCode display");
	is_str(de->patient_id.value,
	    "SELF-5^^^&1.3.6.1.4.1.21367.2005.3.7&ISO",
	    "ipf: patientId despite the space in its scheme");
	is_str(de->unique_id.value, "1.3.6.1.4.1.21367.2005.3.9999.32",
	    "ipf: uniqueId");
	is_str(ss->o.id, "SubmissionSet01", "ipf: set id");
	is_str(ss->node_id, "cl10", "ipf: set marker id");
	is_str(ss->o.comments, "Annual physical", "ipf: set comments");
	is_str(xdsmeta_val(&ss->submission_time), "20041225235050",
	    "ipf: submissionTime");
	is_str(ss->source_id.value, "3670984664", "ipf: sourceId");
	is_str(ss->content_type.v[0].code, "History and Physical",
	    "ipf: contentTypeCode");
	is_str(sub->assocs[0].target, "Document01", "ipf: HasMember target");
	is_str(xdsmeta_val(&sub->assocs[0].subset_status), "Original",
	    "ipf: SubmissionSetStatus");
	is_str(sub->assocs[1].type,
	    "urn:ihe:iti:2010:AssociationType:IsSnapshotOf",
	    "ipf: IsSnapshotOf kept");
	ok(roundtrip(sub, XDSMETA_W_SOR, NULL), "ipf: round trip");
	xdsmeta_free(sub);
}

/* XDS-I.b KOS metadata. */
static void
test_kos(const char *shared)
{
	struct xds_submission		*sub;
	const struct xds_docentry	*de;

	if ((sub = sample(shared, "xdsi/ids_2018-4801a-kos-metadata.xml")) ==
	    NULL) {
		tap_skip(11, "parse failed");
		return;
	}
	de = &sub->docs[0];
	is_str(de->mime_type, "application/dicom", "kos: mimeType");
	is_str(de->format_code.v[0].code, "1.2.840.10008.5.1.4.1.1.88.59",
	    "kos: formatCode");
	is_str(de->format_code.v[0].scheme, "1.2.840.10008.2.6.1",
	    "kos: formatCode scheme");
	is_str(xdsmeta_val(&de->reference_id_list),
	    "5347639127757044^^^&1.3.6.1.4.1.21367.13.202.2000&ISO^"
	    "urn:ihe:iti:xds:2013:accession", "kos: accession in "
	    "referenceIdList");
	is_str(xdsmeta_val(&de->source_patient_id),
	    "IDS-DEPT001-a^^^&1.3.6.1.4.1.21367.1800.13.20.1000&ISO",
	    "kos: value whitespace trimmed");
	is_int(de->event_code.n, 2, "kos: modality and anatomy event codes");
	is_str(de->event_code.v[1].code, "T-D3000", "kos: anatomy code");
	is_int(de->authors.n, 2, "kos: two authors");
	is_int(sub->errors.n, 2, "kos: two misdirected classifiedObjects");
	is_str(sub->subsets[0].node_id,
	    "urn:uuid:b5d91d3f-f7dd-4c06-9441-9e6d743509c1", "kos: marker id");
	ok(roundtrip(sub, XDSMETA_W_LIST, NULL), "kos: round trip");
	xdsmeta_free(sub);
}

/* The LeafClass query response: registry-set attributes. */
static void
test_leafclass(const char *shared)
{
	struct xds_submission		*sub;
	const struct xds_docentry	*de;

	if ((sub = sample(shared, "iti18/sq-resp-leafclass.xml")) == NULL) {
		tap_skip(9, "parse failed");
		return;
	}
	is_int(sub->ndocs, 2, "leafclass: two entries");
	is_int(sub->errors.n, 0, "leafclass: no structural errors");
	de = &sub->docs[0];
	is_str(de->o.status, XDS_STATUS_APPROVED, "leafclass: status");
	is_str(de->o.lid, "urn:uuid:974330cc-26ff-4ef8-aca5-f71efc3f1fb0",
	    "leafclass: lid");
	is_str(de->o.home, "", "leafclass: empty home kept");
	is_str(xdsmeta_val(&de->hash),
	    "e543712c0e10501972de13a5bfcbe826c49feb75", "leafclass: hash");
	is_str(xdsmeta_val(&de->size), "36", "leafclass: size");
	is_str(xdsmeta_val(&de->repository_unique_id), "1.19.6.24.109.42.1",
	    "leafclass: repositoryUniqueId");
	ok(roundtrip(sub, XDSMETA_W_LIST, NULL), "leafclass: round trip");
	xdsmeta_free(sub);
}

/* The SOAP part of an MTOM body: from <...:Envelope to its end tag. */
static char *
envelope(const char *body, size_t *lenp)
{
	const char	*s, *e, *p;

	if ((s = strstr(body, "<soapenv:Envelope")) == NULL &&
	    (s = strstr(body, "<s:Envelope")) == NULL)
		return (NULL);
	for (e = NULL, p = s; (p = strstr(p, "Envelope>")) != NULL; p++)
		e = p + strlen("Envelope>");
	if (e == NULL)
		return (NULL);
	*lenp = (size_t)(e - s);
	return (xstrndup(s, *lenp));
}

/* ITI-41 bodies and the negative PnR. */
static void
test_pnr(const char *shared)
{
	static const char	*bodies[] = {
		"iti41/pnr-mtom-xop.body.txt",
		"iti41/pnr-mtom-noxop-inline-base64.body.txt",
		"iti41/pnr-mtom-xop-urlencoded-cid.body.txt",
		"iti41/rad68-wcf-inline-kos.body.txt",
	};
	struct xds_submission	*sub;
	const struct xds_slot	*s;
	char			 path[4096], *body, *env, *cause = NULL;
	size_t			 i, len;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		snprintf(path, sizeof(path), "%s/xds-samples/%s", shared,
		    bodies[i]);
		env = NULL;
		if ((body = tap_slurp(path, NULL)) == NULL ||
		    (env = envelope(body, &len)) == NULL) {
			ok(0, "%s: envelope found", bodies[i]);
			tap_skip(3, "no envelope");
			free(body);
			continue;
		}
		sub = xdsmeta_parse_buf(env, len, &cause);
		if (!ok(sub != NULL, "%s: parsed", bodies[i])) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
			tap_skip(2, "parse failed");
		} else {
			ok(sub->ndocs == 1 && sub->nsubsets == 1 &&
			    sub->nassocs >= 1, "%s: 1 entry, 1 set", bodies[i]);
			ok(roundtrip(sub, XDSMETA_W_SOR, NULL),
			    "%s: round trip", bodies[i]);
			if (i == 3) {
				s = &sub->docs[0].o.extra.v[0];
				ok(sub->docs[0].o.extra.n == 3 &&
				    strcmp(s[0].name,
				    "urn:acuo:imagingDocumentSourceUid") == 0 &&
				    strcmp(s[1].name,
				    "urn:acuo:accessionNumber") == 0 &&
				    strcmp(s[2].name,
				    "urn:acuo:studyInstanceUid") == 0,
				    "wcf: urn:acuo slots kept in order");
				ok(extra_slot(&sub->docs[0].o.extra,
				    "urn:acuo:accessionNumber") != NULL &&
				    sub->docs[0].reference_id_list.values.n >= 1,
				    "wcf: referenceIdList read");
			}
		}
		xdsmeta_free(sub);
		free(env);
		free(body);
	}

	if ((sub = sample(shared,
	    "negative/soap-pnr-docentry-without-document.xml")) == NULL) {
		tap_skip(4, "parse failed");
		return;
	}
	is_int(sub->ndocs, 2, "pnr negative: two entries in the envelope");
	is_int(sub->errors.n, 0, "pnr negative: well-formed metadata");
	is_str(sub->docs[1].mime_type, "text/xml", "pnr negative: mimeType");
	ok(xdsmeta_find_doc(sub, "Document02") == &sub->docs[1],
	    "find entry by id");
	xdsmeta_free(sub);
}

/* Hard failures: 2.1 namespaces, no list, limits. */
static void
test_refusals(void)
{
	struct xds_submission	*sub;
	struct dbuf		 b;
	char			*cause = NULL;
	const char		*x;
	int			 i;

	x = "<rs:SubmitObjectsRequest xmlns:rs=\"urn:oasis:names:tc:ebxml-"
	    "regrep:registry:xsd:2.1\"><LeafRegistryObjectList xmlns=\"urn:"
	    "oasis:names:tc:ebxml-regrep:rim:xsd:2.1\"/></rs:SubmitObjects"
	    "Request>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	ok(sub == NULL && cause != NULL && strstr(cause, "2.1") != NULL,
	    "ebXML 2.1 refused: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	x = "<RegistryObjectList xmlns=\"urn:oasis:names:tc:ebxml-regrep:"
	    "rim:xsd:2.1\"/>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	ok(sub == NULL && cause != NULL && strstr(cause, "XDS.a legacy"),
	    "ebXML 2.1 RegistryObjectList refused");
	free(cause);
	cause = NULL;
	x = "<lcm:SubmitObjectsRequest xmlns:lcm=\"" XML_NS_LCM "\"/>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	is_str(cause, "no rim:RegistryObjectList in the message",
	    "no RegistryObjectList");
	free(cause);
	cause = NULL;
	x = "<RegistryObjectList xmlns=\"urn:example\"/>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	ok(sub == NULL && cause != NULL && strstr(cause, "not in the ebRIM 3.0"),
	    "RegistryObjectList in a foreign namespace refused");
	free(cause);
	cause = NULL;
	x = "<a";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	ok(sub == NULL && cause != NULL, "not XML refused");
	free(cause);
	cause = NULL;

	dbuf_init(&b, 64 << 20);
	dbuf_addstr(&b, "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">");
	for (i = 0; i <= XDSMETA_MAX_OBJECTS; i++)
		dbuf_printf(&b, "<rim:ObjectRef id=\"r%d\"/>", i);
	dbuf_addstr(&b, "</rim:RegistryObjectList>");
	sub = xdsmeta_parse_buf(b.data, b.len, &cause);
	ok(sub == NULL && cause != NULL && strstr(cause, "more than 100000"),
	    "more than XDSMETA_MAX_OBJECTS objects refused");
	free(cause);
	cause = NULL;
	dbuf_reset(&b);
	dbuf_addstr(&b, "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">");
	for (i = 0; i < XDSMETA_MAX_OBJECTS; i++)
		dbuf_printf(&b, "<rim:ObjectRef id=\"r%d\"/>", i);
	dbuf_addstr(&b, "</rim:RegistryObjectList>");
	sub = xdsmeta_parse_buf(b.data, b.len, &cause);
	ok(sub != NULL && sub->objectrefs.n == XDSMETA_MAX_OBJECTS,
	    "exactly XDSMETA_MAX_OBJECTS objects accepted");
	xdsmeta_free(sub);
	dbuf_reset(&b);
	dbuf_addstr(&b, "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">"
	    "<rim:ExtrinsicObject id=\"d\"><rim:Slot name=\"x\">"
	    "<rim:ValueList>");
	for (i = 0; i <= XDSMETA_MAX_VALUES; i++)
		dbuf_addstr(&b, "<rim:Value>v</rim:Value>");
	dbuf_addstr(&b, "</rim:ValueList></rim:Slot></rim:ExtrinsicObject>"
	    "</rim:RegistryObjectList>");
	sub = xdsmeta_parse_buf(b.data, b.len, &cause);
	ok(sub == NULL && cause != NULL && strstr(cause, "values"),
	    "more than XDSMETA_MAX_VALUES values refused");
	free(cause);
	cause = NULL;
	dbuf_reset(&b);
	dbuf_addstr(&b, "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">"
	    "<rim:ExtrinsicObject id=\"d\">");
	for (i = 0; i <= XDSMETA_MAX_CHILDREN; i++)
		dbuf_printf(&b, "<rim:Slot name=\"s%d\"/>", i);
	dbuf_addstr(&b, "</rim:ExtrinsicObject></rim:RegistryObjectList>");
	sub = xdsmeta_parse_buf(b.data, b.len, &cause);
	ok(sub == NULL && cause != NULL && strstr(cause, "slots"),
	    "more than XDSMETA_MAX_CHILDREN children refused");
	free(cause);
	dbuf_free(&b);
}

/* Structural problems are recorded, with the object kept. */
static void
test_structure(void)
{
	struct xds_submission	*sub;
	char			*cause = NULL, *s;
	const char		*x;

	x = "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">\n"
	    "<rim:ExtrinsicObject mimeType=\"text/plain\"/>\n"
	    "<rim:RegistryPackage id=\"p\"/>\n"
	    "<rim:Classification id=\"c\" classifiedObject=\"q\" "
	    "classificationScheme=\"urn:uuid:x\"/>\n"
	    "<rim:Classification id=\"c2\"/>\n"
	    "<rim:ExternalLink id=\"l\" externalURI=\"http://x\"/>\n"
	    "<rim:Association id=\"a\" sourceObject=\"x\" targetObject=\"y\" "
	    "associationType=\"t\"><rim:Slot name=\"SubmissionSetStatus\">"
	    "<rim:ValueList><rim:Value> Original\n</rim:Value></rim:ValueList>"
	    "</rim:Slot><rim:Slot><rim:ValueList/></rim:Slot>"
	    "</rim:Association>\n"
	    "</rim:RegistryObjectList>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	if (!ok(sub != NULL, "structural problems still parse")) {
		tap_skip(6, "parse failed");
		free(cause);
		return;
	}
	is_int(sub->errors.n, 5, "five structural errors");
	s = sub->errors.n > 0 ? xdsmeta_error_str(&sub->errors.v[0]) : NULL;
	is_str(s, "XDSRegistryMetadataError DocumentEntry (line 2): "
	    "ExtrinsicObject has no id", "entry without id");
	free(s);
	s = sub->errors.n > 2 ? xdsmeta_error_str(&sub->errors.v[2]) : NULL;
	is_str(s, "XDSRegistryMetadataError Association \"a\" (line 8): a "
	    "slot has no name", "slot without name");
	free(s);
	s = sub->errors.n > 3 ? xdsmeta_error_str(&sub->errors.v[3]) : NULL;
	is_str(s, "XDSRegistryMetadataError Classification \"c\" (line 4): "
	    "classifiedObject \"q\" names no object in the submission",
	    "classification naming nothing");
	free(s);
	ok(sub->ndocs == 1 && sub->docs[0].o.id == NULL &&
	    sub->nsubsets == 0 && sub->nassocs == 1,
	    "entry kept, kindless package dropped");
	is_str(xdsmeta_val(&sub->assocs[0].subset_status), "Original",
	    "values are trimmed");
	xdsmeta_free(sub);
}

/* A second Name or Description is an error; the first is kept (fuzzer). */
static void
test_twice_named(void)
{
	struct xds_submission	*sub;
	char			*cause = NULL, *s;
	const char		*x;

	x = "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">\n"
	    "<rim:ExtrinsicObject id=\"d\" mimeType=\"text/plain\">\n"
	    "<rim:Name><rim:LocalizedString value=\"one\"/></rim:Name>\n"
	    "<rim:Name><rim:LocalizedString value=\"two\"/></rim:Name>\n"
	    "<rim:Description><rim:LocalizedString value=\"x\"/>"
	    "</rim:Description><rim:Description><rim:LocalizedString "
	    "value=\"y\"/></rim:Description>\n"
	    "</rim:ExtrinsicObject>\n"
	    "</rim:RegistryObjectList>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	if (!ok(sub != NULL, "twice named: parses")) {
		tap_skip(3, "parse failed");
		free(cause);
		return;
	}
	is_str(sub->docs[0].o.title, "one", "twice named: first Name kept");
	s = sub->errors.n > 0 ? xdsmeta_error_str(&sub->errors.v[0]) : NULL;
	is_str(s, "XDSRegistryMetadataError DocumentEntry \"d\" (line 4): "
	    "more than one Name", "twice named: error for the second Name");
	free(s);
	s = sub->errors.n > 1 ? xdsmeta_error_str(&sub->errors.v[1]) : NULL;
	is_str(s, "XDSRegistryMetadataError DocumentEntry \"d\" (line 5): "
	    "more than one Description", "twice described: error");
	free(s);
	xdsmeta_free(sub);
}

/*
 * An unknown ExternalIdentifier inside a package and an unknown
 * Classification of it outside: written back in ebRIM's order
 * (Classifications first), still the same model (fuzzer).
 */
static void
test_other_order(void)
{
	struct xds_submission	*sub, *again = NULL;
	struct dbuf		 b;
	char			*cause = NULL;
	const char		*x;

	x = "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM "\">"
	    "<rim:RegistryPackage id=\"S\"><rim:ExternalIdentifier/>"
	    "</rim:RegistryPackage><rim:Classification classifiedObject="
	    "\"S\"/><rim:Classification classifiedObject=\"S\" "
	    "classificationNode=\"" XDS_NODE_SUBSET "\"/>"
	    "</rim:RegistryObjectList>";
	sub = xdsmeta_parse_buf(x, strlen(x), &cause);
	if (!ok(sub != NULL && sub->nsubsets == 1 &&
	    sub->subsets[0].o.other.n == 2 &&
	    sub->subsets[0].o.other.v[0].extid, "other order: parsed")) {
		tap_skip(1, "parse failed");
		xdsmeta_free(sub);
		free(cause);
		return;
	}
	dbuf_init(&b, 1 << 20);
	if (xdsmeta_write(&b, sub, XDSMETA_W_LIST) == 0)
		again = xdsmeta_parse_buf(b.data, b.len, &cause);
	ok(again != NULL && xdsmeta_equal(sub, again),
	    "other order: an identifier before a classification round-trips");
	dbuf_free(&b);
	free(cause);
	xdsmeta_free(again);
	xdsmeta_free(sub);
}

/* A small network submission built, written, read back field by field. */
static struct xds_submission *
build(int isn2)
{
	struct xdsmeta_subset_spec	 ss = {
		"3f2a^^^&1.3.6.1.4.1.21367.13.20.3000&ISO",
		"1.3.6.1.4.1.21367.5", "1.3.6.1.4.1.21367.5.1",
		"20240102030405", isn2
	};
	struct xdsmeta_doc_spec		 d = {
		XDSMETA_DOC_IMAGE, "1.2.3.9.1", "1.2.840.10008.5.1.4.1.1.2",
		"1.2.3.9", "1.2.3.9.0", "20240102030000", "20240101",
		"e543712c0e10501972de13a5bfcbe826c49feb75", 36,
		"1.3.6.1.4.1.21367.13.80.110", NULL
	};
	struct xds_submission		*sub;

	sub = xdsmeta_build_subset(&ss);
	xdsmeta_build_doc(sub, &d);
	d.kind = XDSMETA_DOC_KOS;
	d.unique_id = "1.2.3.9.2";
	d.series_uid = NULL;
	d.hash = NULL;
	d.size = -1;
	xdsmeta_build_doc(sub, &d);
	d.kind = XDSMETA_DOC_REPORT;
	d.unique_id = "1.2.3.9.3";
	d.study_uid = NULL;
	d.service_start_time = NULL;
	xdsmeta_build_doc(sub, &d);
	return (sub);
}

struct renames {
	int	n;
	char	old[8][64];
	char	new[8][64];
};

/* Collect the renames xdsmeta_assign_uuids reports. */
static void
rename_cb(const char *oldid, const char *newid, void *arg)
{
	struct renames	*r = arg;

	if (r->n < 8) {
		snprintf(r->old[r->n], sizeof(r->old[0]), "%s", oldid);
		snprintf(r->new[r->n], sizeof(r->new[0]), "%s", newid);
	}
	r->n++;
}

/* "urn:uuid:" and an RFC 4122 version 4 UUID. */
static int
is_v4(const char *s)
{
	size_t	i;

	if (s == NULL || strlen(s) != 45 || strncmp(s, "urn:uuid:", 9) != 0)
		return (0);
	s += 9;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (strchr("0123456789abcdef", s[i]) == NULL)
			return (0);
	}
	return (s[14] == '4' && strchr("89ab", s[19]) != NULL);
}

/* Builders, field by field after a round trip, then UUID assignment. */
static void
test_build(void)
{
	struct xds_submission		*sub, *again;
	const struct xds_docentry	*de;
	struct renames			 r;
	struct dbuf			 b;
	char				*cause = NULL, *text = NULL, u[64];
	size_t				 i;
	int				 all;

	sub = build(1);
	is_int(sub->ndocs, 3, "built: three entries");
	is_int(sub->nassocs, 3, "built: three HasMember associations");
	dbuf_init(&b, 1 << 20);
	ok(xdsmeta_write(&b, sub, XDSMETA_W_SOR) == 0, "built: written");
	again = xdsmeta_parse_buf(b.data, b.len, &cause);
	if (!ok(again != NULL && again->errors.n == 0, "built: reparsed")) {
		tap_diag("%s", cause ? cause : "errors");
		tap_skip(15, "reparse failed");
	} else {
		ok(xdsmeta_equal(sub, again), "built: same model");
		de = &again->docs[0];
		is_str(de->o.id, "Document01", "built: id");
		is_str(de->mime_type, "application/dicom", "built: mimeType");
		is_str(de->format_code.v[0].code, "1.2.840.10008.5.1.4.1.1.2",
		    "built: SOP Class as formatCode");
		is_str(de->class_code.v[0].code, "IMAGES", "built: classCode");
		is_str(de->conf_code.v[0].scheme, "2.16.840.1.113883.5.25",
		    "built: confidentiality scheme");
		is_str(de->practice_code.v[0].display, "Radiology",
		    "built: practice display");
		is_str(xdsmeta_val(&de->reference_id_list), "1.2.3.9^^^^urn:ihe:"
		    "iti:xds:2016:studyInstanceUID", "built: study UID");
		ok(de->o.extra.n == 1 && strcmp(de->o.extra.v[0].name,
		    XDS_SLOT_ISN_SERIES) == 0 && strcmp(de->o.extra.v[0].values.
		    v[0], "1.2.3.9.0") == 0, "built: series UID slot");
		is_str(xdsmeta_val(&de->size), "36", "built: size");
		is_str(again->docs[1].format_code.v[0].code,
		    "1.2.840.10008.5.1.4.1.1.88.59", "built: KOS formatCode");
		ok(!again->docs[1].hash.set && !again->docs[1].size.set,
		    "built: no hash or size when unknown");
		is_str(again->docs[2].mime_type, "text/plain", "built: report");
		is_str(again->docs[2].format_code.v[0].code, "urn:ihe:rad:TEXT",
		    "built: report formatCode");
		ok(extra_slot(&again->subsets[0].o.extra,
		    XDS_SLOT_ISN_ENCRYPTION) != NULL, "built: isn2 slot");
		free(again->docs[0].mime_type);
		again->docs[0].mime_type = xstrdup("text/plain");
		ok(!xdsmeta_equal(sub, again), "equal sees one field differ");
	}
	xdsmeta_free(again);
	dbuf_free(&b);

	memset(&r, 0, sizeof(r));
	ok(xdsmeta_assign_uuids(sub, rename_cb, &r) == 0, "assign uuids");
	is_int(r.n, 7, "one rename per entry, set and association");
	is_str(r.old[0], "Document01", "first rename is Document01");
	is_str(r.new[0], sub->docs[0].o.id, "callback gives the new id");
	all = is_v4(sub->subsets[0].o.id) && is_v4(sub->subsets[0].node_id);
	for (i = 0; i < sub->ndocs; i++)
		all = all && is_v4(sub->docs[i].o.id) &&
		    is_v4(sub->docs[i].class_code.v[0].id) &&
		    is_v4(sub->docs[i].unique_id.id) &&
		    is_v4(sub->docs[i].authors.v[0].id);
	for (i = 0; i < sub->nassocs; i++)
		all = all && is_v4(sub->assocs[i].o.id) &&
		    strcmp(sub->assocs[i].source, sub->subsets[0].o.id) == 0 &&
		    strcmp(sub->assocs[i].target, sub->docs[i].o.id) == 0;
	ok(all, "every id is a v4 urn:uuid and every reference follows");
	ok(strcmp(sub->docs[0].o.id, sub->docs[1].o.id) != 0,
	    "UUIDs differ");
	memset(&r, 0, sizeof(r));
	ok(xdsmeta_assign_uuids(sub, rename_cb, &r) == 0 && r.n == 0,
	    "assigning again renames nothing");
	ok(roundtrip(sub, XDSMETA_W_SOR, &text), "built with UUIDs: round trip");
	ok(text != NULL && strstr(text, "classifiedObject=\"urn:uuid:") !=
	    NULL, "written classifiedObject uses the UUID");
	free(text);
	ok(xdsmeta_new_uuid(u, 45) == -1, "uuid buffer too small refused");
	xdsmeta_free(sub);
}

/* Validate XML text against the pinned XDS.b schema. */
static int
xsd_valid(xmlSchema *schema, const char *text, size_t len)
{
	xmlSchemaValidCtxt	*vctx;
	xmlDoc			*doc;
	char			*cause = NULL;
	int			 r;

	if ((doc = xml_parse(text, len, NULL, &cause)) == NULL) {
		tap_diag("%s", cause);
		free(cause);
		return (0);
	}
	vctx = xmlSchemaNewValidCtxt(schema);
	r = xmlSchemaValidateDoc(vctx, doc);
	xmlSchemaFreeValidCtxt(vctx);
	xml_free(doc);
	return (r == 0);
}

/* Generated XML against the pinned XSDs, loaded without the network. */
static void
test_xsd(const char *shared)
{
	xmlSchemaParserCtxt	*pctx;
	xmlSchema		*schema;
	struct xds_submission	*sub;
	struct dbuf		 b;
	char			 path[4096], *sor = NULL;
	size_t			 i;

	xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
	snprintf(path, sizeof(path), "%s/schemas/xsd/XDS.b_DocumentRepository"
	    ".xsd", tap_srcdir());
	pctx = xmlSchemaNewParserCtxt(path);
	schema = pctx != NULL ? xmlSchemaParse(pctx) : NULL;
	xmlSchemaFreeParserCtxt(pctx);
	if (!ok(schema != NULL, "pinned XSDs load without the network")) {
		tap_skip(5, "no schema");
		return;
	}

	sub = build(1);
	ok(roundtrip(sub, XDSMETA_W_SOR, &sor) && xsd_valid(schema, sor,
	    strlen(sor)), "built SubmitObjectsRequest validates");
	free(sor);
	xdsmeta_assign_uuids(sub, NULL, NULL);
	dbuf_init(&b, 1 << 20);
	dbuf_addstr(&b, "<xdsb:ProvideAndRegisterDocumentSetRequest "
	    "xmlns:xdsb=\"" XML_NS_XDSB "\">");
	xdsmeta_write(&b, sub, XDSMETA_W_SOR);
	for (i = 0; i < sub->ndocs; i++)
		dbuf_printf(&b, "<xdsb:Document id=\"%s\">aGVsbG8K"
		    "</xdsb:Document>", sub->docs[i].o.id);
	dbuf_addstr(&b, "</xdsb:ProvideAndRegisterDocumentSetRequest>");
	ok(xsd_valid(schema, b.data, b.len),
	    "built ProvideAndRegisterDocumentSetRequest validates");
	dbuf_reset(&b);
	free(sub->docs[0].class_code.v[0].id);
	sub->docs[0].class_code.v[0].id = NULL;
	xdsmeta_write(&b, sub, XDSMETA_W_SOR);
	ok(!xsd_valid(schema, b.data, b.len),
	    "a Classification without id fails the XSD (the check bites)");
	xdsmeta_free(sub);

	if (shared == NULL) {
		tap_skip(4, "../shared not present");
	} else {
		if ((sub = sample(shared, "xdsi/ids_2018-4801a-kos-metadata"
		    ".xml")) != NULL) {
			dbuf_reset(&b);
			xdsmeta_write(&b, sub, XDSMETA_W_SOR);
			ok(xsd_valid(schema, b.data, b.len),
			    "KOS metadata written back validates");
			xdsmeta_free(sub);
		}
		if ((sub = sample(shared, "iti18/sq-resp-leafclass.xml")) !=
		    NULL) {
			dbuf_reset(&b);
			xdsmeta_write(&b, sub, XDSMETA_W_LIST);
			ok(xsd_valid(schema, b.data, b.len),
			    "LeafClass list written back validates");
			xdsmeta_free(sub);
		}
	}
	dbuf_free(&b);
	xmlSchemaFree(schema);
}

/* Samples last: they need ../shared. */
int
main(void)
{
	const char	*shared = tap_shareddir();

	test_pinned(shared);
	test_refusals();
	test_structure();
	test_twice_named();
	test_other_order();
	test_build();
	test_xsd(shared);
	if (shared == NULL) {
		tap_skip(NSAMPLE_POINTS, "../shared not present");
		return (tap_done());
	}
	test_ipf(shared);
	test_kos(shared);
	test_leafclass(shared);
	test_pnr(shared);
	return (tap_done());
}

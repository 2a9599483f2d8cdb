/*
 * example-submission.c: print the example submission of docs/protocol.md
 * (section 6) from the same builders the edge uses; docs/example.sh checks
 * that the document shows exactly this and that isn-validate accepts it.
 */
#include "config.h"

#include <stdio.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "dbuf.h"
#include "xdsmeta.h"

int
main(void)
{
	static const struct xdsmeta_subset_spec ss = {
		.patient_id = "83f59bf2b530007175cd5fb00f8dfc7f^^^"
		    "&1.3.6.1.4.1.19376.3.840.1.1.1&ISO",
		.source_id = "1.3.6.1.4.1.19376.3.840.1.1.4.1",
		.unique_id = "1.3.6.1.4.1.19376.3.840.1.1.4.1.20261127.1",
		.submission_time = "20261127120000",
		.isn2 = 1,
	};
	static const struct xdsmeta_doc_spec docs[] = {
		{ .kind = XDSMETA_DOC_IMAGE,
		  .unique_id = "1.2.840.113619.2.55.3.1.1.1",
		  .sop_class = "1.2.840.10008.5.1.4.1.1.2",
		  .study_uid = "1.2.840.113619.2.55.3.1",
		  .series_uid = "1.2.840.113619.2.55.3.1.1",
		  .creation_time = "20261127120000",
		  .service_start_time = "20261120093000",
		  .hash = "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
		  .size = 524368,
		  .repository_unique_id = "1.3.6.1.4.1.19376.3.840.1.1.6" },
		{ .kind = XDSMETA_DOC_KOS,
		  .unique_id = "1.2.840.113619.2.55.3.1.9.1",
		  .study_uid = "1.2.840.113619.2.55.3.1",
		  .creation_time = "20261127120000",
		  .service_start_time = "20261120093000",
		  .hash = "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3",
		  .size = 2160,
		  .repository_unique_id = "1.3.6.1.4.1.19376.3.840.1.1.6" },
		{ .kind = XDSMETA_DOC_REPORT,
		  .unique_id = "1.2.840.113619.2.55.3.1.9.2",
		  .study_uid = "1.2.840.113619.2.55.3.1",
		  .creation_time = "20261127120000",
		  .service_start_time = "20261120093000",
		  .hash = "7b502c3a1f48c8609ae212cdfb639dee39673f5e",
		  .size = 1296,
		  .repository_unique_id = "1.3.6.1.4.1.19376.3.840.1.1.6" },
	};
	struct xds_submission	*sub;
	struct dbuf		 out;
	xmlDoc			*doc;
	xmlChar			*text;
	size_t			 i;
	int			 len;

	if ((sub = xdsmeta_build_subset(&ss)) == NULL)
		return (1);
	for (i = 0; i < sizeof(docs) / sizeof(*docs); i++)
		if (xdsmeta_build_doc(sub, &docs[i]) == NULL)
			return (1);
	dbuf_init(&out, 1024 * 1024);
	if (xdsmeta_write(&out, sub, XDSMETA_W_SOR) == -1)
		return (1);
	/* Indented for people to read. */
	if ((doc = xmlReadMemory(out.data, (int)out.len, NULL, NULL,
	    XML_PARSE_NONET)) == NULL)
		return (1);
	xmlDocDumpFormatMemoryEnc(doc, &text, &len, "UTF-8", 1);
	fwrite(text, 1, (size_t)len, stdout);
	xmlFree(text);
	xmlFreeDoc(doc);
	dbuf_free(&out);
	xdsmeta_free(sub);
	return (0);
}

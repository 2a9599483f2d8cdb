/*
 * xml.h: hardened libxml2 parsing and small navigation and writing helpers
 * for the XDS messages. No network, no DTDs, no entity expansion, bounded
 * size and depth.
 */
#ifndef ISN_XML_H
#define ISN_XML_H

#include <stddef.h>

#include <libxml/tree.h>

#include "dbuf.h"

/* Namespaces of the IHE XDS.b / XDS-I.b messages. */
#define XML_NS_SOAP12	"http://www.w3.org/2003/05/soap-envelope"
#define XML_NS_WSA	"http://www.w3.org/2005/08/addressing"
#define XML_NS_XOP	"http://www.w3.org/2004/08/xop/include"
#define XML_NS_XDSB	"urn:ihe:iti:xds-b:2007"
#define XML_NS_XDSI	"urn:ihe:rad:xdsi-b:2009"
#define XML_NS_LCM	"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
#define XML_NS_RIM	"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
#define XML_NS_RS	"urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
#define XML_NS_QUERY	"urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"

#define XML_MAX_SIZE	(64 * 1024 * 1024)	/* default document limit */
#define XML_MAX_DEPTH	64

struct xml_limits {
	size_t	max_size;	/* bytes; 0 = XML_MAX_SIZE */
	int	max_depth;	/* element nesting; 0 = XML_MAX_DEPTH */
};

/* Parse; NULL with a cause on malformed, oversized or unsafe input. */
xmlDoc		*xml_parse(const void *, size_t, const struct xml_limits *,
		    char **cause);
void		 xml_free(xmlDoc *);

/* Elements by namespace URI and local name (ns NULL matches any). */
int		 xml_is(const xmlNode *, const char *ns, const char *name);
xmlNode		*xml_first(const xmlNode *parent);	/* first element child */
xmlNode		*xml_next(const xmlNode *);		/* next element sibling */
xmlNode		*xml_child(const xmlNode *, const char *ns, const char *name);
xmlNode		*xml_next_named(const xmlNode *, const char *ns,
		    const char *name);
size_t		 xml_count(const xmlNode *, const char *ns, const char *name);

/* Attribute value (no namespace) or NULL; valid while the node lives. */
const char	*xml_attr(const xmlNode *, const char *name);
/* Text content of an element, allocated (caller frees); "" when empty. */
char		*xml_text(const xmlNode *);
/* A node's position for error locations: "line N" from libxml2. */
long		 xml_line(const xmlNode *);

/* Serialise a document or node to a bounded buffer (UTF-8, no declaration). */
int		 xml_write(struct dbuf *, xmlDoc *, xmlNode *);
/* Append text to a buffer with XML escaping (&, <, >, ", '). */
int		 xml_escape(struct dbuf *, const char *);
/*
 * As xml_escape, and TAB, LF and CR as character references too, so that an
 * attribute value or text survives a re-parse byte for byte.
 */
int		 xml_escape_value(struct dbuf *, const char *);
/*
 * Replace in place every byte that cannot start valid XML 1.0 character
 * data (bad UTF-8, C0 controls but TAB, LF and CR, U+FFFE, U+FFFF) with '?'.
 */
void		 xml_sanitize(char *);

#endif

/* xml.c: hardened libxml2 parsing and helpers. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#include "xml.h"
#include "log.h"
#include "xmalloc.h"

/* Silence libxml2's own error printing: causes are returned instead. */
static void
xml_quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

static int
xml_depth_ok(const xmlNode *n, int depth, int max)
{
	const xmlNode	*c;

	if (depth > max)
		return (0);
	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    !xml_depth_ok(c, depth + 1, max))
			return (0);
	return (1);
}

/* A DOCTYPE anywhere before the root element is refused outright. */
static int
xml_has_doctype(const char *p, size_t len)
{
	static const char	needle[] = "<!DOCTYPE";
	size_t			i, n = sizeof(needle) - 1;

	for (i = 0; i + n <= len; i++) {
		if (p[i] == '<' && memcmp(p + i, needle, n) == 0)
			return (1);
		/* Past the prolog: a root start tag ends the search. */
		if (p[i] == '<' && i + 1 < len && p[i + 1] != '?' &&
		    p[i + 1] != '!')
			return (0);
	}
	return (0);
}

xmlDoc *
xml_parse(const void *buf, size_t len, const struct xml_limits *lim,
    char **cause)
{
	xmlParserCtxt	*ctx;
	xmlDoc		*doc;
	const xmlError	*err;
	size_t		 max_size = XML_MAX_SIZE;
	int		 max_depth = XML_MAX_DEPTH;

	if (lim != NULL && lim->max_size != 0)
		max_size = lim->max_size;
	if (lim != NULL && lim->max_depth != 0)
		max_depth = lim->max_depth;
	if (len > max_size) {
		xasprintf(cause, "XML document is larger than %zu bytes",
		    max_size);
		return (NULL);
	}
	if (len > (size_t)INT32_MAX) {
		xasprintf(cause, "XML document is too large");
		return (NULL);
	}
	if (xml_has_doctype(buf, len)) {
		xasprintf(cause, "XML document has a DOCTYPE, which is not "
		    "allowed");
		return (NULL);
	}
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	if ((ctx = xmlNewParserCtxt()) == NULL)
		fatalx("xmlNewParserCtxt failed");
	doc = xmlCtxtReadMemory(ctx, buf, (int)len, "message.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
	if (doc == NULL) {
		err = xmlCtxtGetLastError(ctx);
		if (err != NULL && err->message != NULL)
			xasprintf(cause, "XML is not well-formed at line %d: "
			    "%.*s", err->line,
			    (int)strcspn(err->message, "\n"), err->message);
		else
			xasprintf(cause, "XML is not well-formed");
		xmlFreeParserCtxt(ctx);
		return (NULL);
	}
	/* An undeclared prefix leaves "a:Action" as a plain name: refuse. */
	if (!ctx->nsWellFormed) {
		xasprintf(cause, "XML uses a namespace prefix it does not "
		    "declare");
		xmlFreeParserCtxt(ctx);
		xmlFreeDoc(doc);
		return (NULL);
	}
	xmlFreeParserCtxt(ctx);
	if (xmlDocGetRootElement(doc) == NULL) {
		xasprintf(cause, "XML document has no root element");
		xmlFreeDoc(doc);
		return (NULL);
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xasprintf(cause, "XML document has a DOCTYPE, which is not "
		    "allowed");
		xmlFreeDoc(doc);
		return (NULL);
	}
	if (!xml_depth_ok(xmlDocGetRootElement(doc), 1, max_depth)) {
		xasprintf(cause, "XML elements are nested deeper than %d",
		    max_depth);
		xmlFreeDoc(doc);
		return (NULL);
	}
	return (doc);
}

void
xml_free(xmlDoc *doc)
{
	if (doc != NULL)
		xmlFreeDoc(doc);
}

int
xml_is(const xmlNode *n, const char *ns, const char *name)
{
	if (n == NULL || n->type != XML_ELEMENT_NODE)
		return (0);
	if (name != NULL && strcmp((const char *)n->name, name) != 0)
		return (0);
	if (ns == NULL)
		return (1);
	return (n->ns != NULL && n->ns->href != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0);
}

static xmlNode *
xml_element_from(xmlNode *n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return (n);
}

xmlNode *
xml_first(const xmlNode *parent)
{
	return (parent == NULL ? NULL : xml_element_from(parent->children));
}

xmlNode *
xml_next(const xmlNode *n)
{
	return (n == NULL ? NULL : xml_element_from(n->next));
}

xmlNode *
xml_child(const xmlNode *parent, const char *ns, const char *name)
{
	xmlNode	*c;

	for (c = xml_first(parent); c != NULL; c = xml_next(c))
		if (xml_is(c, ns, name))
			return (c);
	return (NULL);
}

xmlNode *
xml_next_named(const xmlNode *n, const char *ns, const char *name)
{
	xmlNode	*c;

	for (c = xml_next(n); c != NULL; c = xml_next(c))
		if (xml_is(c, ns, name))
			return (c);
	return (NULL);
}

size_t
xml_count(const xmlNode *parent, const char *ns, const char *name)
{
	xmlNode	*c;
	size_t	 n = 0;

	for (c = xml_first(parent); c != NULL; c = xml_next(c))
		n += xml_is(c, ns, name);
	return (n);
}

const char *
xml_attr(const xmlNode *n, const char *name)
{
	xmlAttr	*a;

	if (n == NULL || n->type != XML_ELEMENT_NODE)
		return (NULL);
	for (a = n->properties; a != NULL; a = a->next) {
		if (a->ns != NULL || strcmp((const char *)a->name, name) != 0)
			continue;
		if (a->children == NULL)
			return ("");
		if (a->children->next == NULL &&
		    a->children->type == XML_TEXT_NODE)
			return ((const char *)a->children->content);
		return (NULL);	/* entity references: not supported */
	}
	return (NULL);
}

char *
xml_text(const xmlNode *n)
{
	xmlChar	*s;
	char	*r;

	if (n == NULL || (s = xmlNodeGetContent(n)) == NULL)
		return (xstrdup(""));
	r = xstrdup((const char *)s);
	xmlFree(s);
	return (r);
}

long
xml_line(const xmlNode *n)
{
	return (n == NULL ? 0 : xmlGetLineNo(n));
}

static int
xml_write_cb(void *arg, const char *buf, int len)
{
	return (dbuf_add(arg, buf, (size_t)len) == -1 ? -1 : len);
}

int
xml_write(struct dbuf *b, xmlDoc *doc, xmlNode *node)
{
	xmlSaveCtxt	*save;
	long		 r;

	save = xmlSaveToIO(xml_write_cb, NULL, b, "UTF-8",
	    XML_SAVE_NO_DECL | XML_SAVE_AS_XML);
	if (save == NULL)
		return (-1);
	r = node != NULL ? xmlSaveTree(save, node) : xmlSaveDoc(save, doc);
	if (xmlSaveClose(save) == -1 || r == -1)
		return (-1);
	return (0);
}

/* Escape the characters of set (some of & < > " ' TAB LF CR). */
static int
xml_escape_set(struct dbuf *b, const char *s, const char *set)
{
	const char	*rep;
	size_t		 run;

	while (*s != '\0') {
		run = strcspn(s, set);
		if (run > 0 && dbuf_add(b, s, run) == -1)
			return (-1);
		s += run;
		switch (*s) {
		case '\0':
			return (0);
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '\t':
			rep = "&#9;";
			break;
		case '\n':
			rep = "&#10;";
			break;
		default:
			rep = "&#13;";
			break;
		}
		if (dbuf_addstr(b, rep) == -1)
			return (-1);
		s++;
	}
	return (0);
}

/* Escapes for text and attribute values. */
int
xml_escape(struct dbuf *b, const char *s)
{
	return (xml_escape_set(b, s, "&<>\"'"));
}

/* Escapes for values that must read back exactly (whitespace included). */
int
xml_escape_value(struct dbuf *b, const char *s)
{
	return (xml_escape_set(b, s, "&<>\"'\t\n\r"));
}

/* Length of the valid XML character starting at p, or 0. */
static size_t
xml_char_len(const unsigned char *p)
{
	size_t	n, i;

	if (p[0] < 0x80)
		return (p[0] >= 0x20 || p[0] == '\t' || p[0] == '\n' ||
		    p[0] == '\r' ? 1 : 0);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return (0);
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return (0);
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return (0);
	if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
		return (0);
	return (n);
}

/* Text that will be written into XML must be XML characters. */
void
xml_sanitize(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 n;

	while (*p != '\0') {
		if ((n = xml_char_len(p)) == 0) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

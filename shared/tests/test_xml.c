/* test_xml.c: hardened XML parsing and the navigation helpers. */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "xml.h"
#include "xmalloc.h"

static xmlDoc *
parse(const char *s, const struct xml_limits *lim, char **cause)
{
	*cause = NULL;
	return (xml_parse(s, strlen(s), lim, cause));
}

static void
test_refusals(void)
{
	struct xml_limits	 lim = { 64, 3 };
	xmlDoc			*doc;
	char			*cause;

	doc = parse("<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]>"
	    "<r>&b;</r>", NULL, &cause);
	ok(doc == NULL, "a DOCTYPE with entities is refused");
	is_str(cause, "XML document has a DOCTYPE, which is not allowed",
	    "DOCTYPE cause");
	free(cause);
	doc = parse("<?xml version=\"1.0\"?><!-- c --><!DOCTYPE r SYSTEM "
	    "\"http://127.0.0.1:9/x.dtd\"><r/>", NULL, &cause);
	ok(doc == NULL && cause != NULL, "an external DTD is refused");
	free(cause);
	doc = parse("<r><a>", NULL, &cause);
	ok(doc == NULL && cause != NULL &&
	    strncmp(cause, "XML is not well-formed at line 1", 32) == 0,
	    "malformed XML names the line");
	free(cause);
	doc = parse("<r>0123456789012345678901234567890123456789012345678901"
	    "23456789</r>", &lim, &cause);
	is_str(cause, "XML document is larger than 64 bytes", "size limit");
	free(cause);
	doc = parse("<a><b><c><d/></c></b></a>", &lim, &cause);
	is_str(cause, "XML elements are nested deeper than 3", "depth limit");
	free(cause);
	doc = parse("<a><b><c/></b></a>", &lim, &cause);
	ok(doc != NULL, "nesting at the depth limit is fine");
	xml_free(doc);
	doc = parse("<s:Envelope><a:Action/></s:Envelope>", NULL, &cause);
	is_str(cause, "XML uses a namespace prefix it does not declare",
	    "undeclared namespace prefixes are refused");
	free(cause);
	doc = parse("", NULL, &cause);
	ok(doc == NULL && cause != NULL, "empty input is refused");
	free(cause);
}

static void
test_navigation(void)
{
	xmlDoc		*doc;
	xmlNode		*root, *n;
	char		*cause, *text;
	struct dbuf	 b;

	doc = parse("<s:Envelope xmlns:s=\"" XML_NS_SOAP12 "\" "
	    "xmlns:a=\"" XML_NS_WSA "\">\n<s:Header><a:Action "
	    "s:mustUnderstand=\"1\">urn:x</a:Action></s:Header>\n"
	    "<s:Body><x id=\"1\"/><!-- c --><x id=\"2\">t&amp;u</x>"
	    "<y/></s:Body></s:Envelope>", NULL, &cause);
	ok(doc != NULL, "SOAP envelope parses");
	root = xmlDocGetRootElement(doc);
	ok(xml_is(root, XML_NS_SOAP12, "Envelope"), "root by namespace");
	ok(!xml_is(root, XML_NS_WSA, "Envelope"), "wrong namespace no match");
	n = xml_child(xml_child(root, XML_NS_SOAP12, "Header"), XML_NS_WSA,
	    "Action");
	text = xml_text(n);
	is_str(text, "urn:x", "header text");
	free(text);
	is_int(xml_line(n), 2, "line numbers");
	ok(xml_attr(n, "mustUnderstand") == NULL,
	    "namespaced attributes are not matched by plain name");
	n = xml_child(root, XML_NS_SOAP12, "Body");
	is_int(xml_count(n, NULL, "x"), 2, "count children by name");
	n = xml_child(n, NULL, "x");
	is_str(xml_attr(n, "id"), "1", "attribute");
	n = xml_next_named(n, NULL, "x");
	is_str(xml_attr(n, "id"), "2", "next named sibling skips comments");
	text = xml_text(n);
	is_str(text, "t&u", "entities of the predefined set are decoded");
	free(text);
	ok(xml_is(xml_next(n), NULL, "y"), "next element sibling");
	ok(xml_next(xml_next(n)) == NULL, "end of siblings");
	dbuf_init(&b, 1024);
	ok(xml_write(&b, doc, n) == 0, "write a node");
	is_str(dbuf_str(&b), "<x id=\"2\">t&amp;u</x>", "written node");
	dbuf_reset(&b);
	ok(xml_escape(&b, "a<b>&\"c'") == 0, "escape");
	is_str(dbuf_str(&b), "a&lt;b&gt;&amp;&quot;c&apos;", "escaped text");
	dbuf_free(&b);
	xml_free(doc);
}

int
main(void)
{
	test_refusals();
	test_navigation();
	return (tap_done());
}

/*
 * edge-stub.c: edge_hold and edge_release for programs that link ris.c
 * without the daemon (test_ris, the fuzz harness): nothing to wait for.
 */
#include "config.h"

#include "edge.h"

void
edge_hold(struct edge *edge)
{
	edge->busy++;
}

void
edge_release(struct edge *edge)
{
	if (edge->busy > 0)
		edge->busy--;
}

/*
 * edge-stub.c: edge_hold, edge_release and jobs_kick for programs that
 * link ris.c without the daemon (test_ris, the fuzz harness): nothing to
 * wait for, no job runner.
 */
#include "config.h"

#include "edge.h"
#include "jobs.h"

void
jobs_kick(struct jobs *jobs)
{
	(void)jobs;
}

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

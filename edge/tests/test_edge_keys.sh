#!/bin/sh
# test_edge_keys.sh: the edge.yaml key table (edge_conf.c), its man page
# edge.yaml(5) and edge/edge.yaml.sample agree (shared/tests/conf-keys.sh).
src=${top_srcdir:-.}
. "$src/shared/tests/conf-keys.sh"
conf_keys "$src/edge/edge_conf.c" "$src/docs/edge.yaml.5" \
    "$src/edge/edge.yaml.sample"

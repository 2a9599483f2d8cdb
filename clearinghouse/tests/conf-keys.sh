#!/bin/sh
# conf-keys.sh: the clearinghouse.yaml key table (ch_conf.c), its man
# page clearinghouse.yaml(5) and clearinghouse.yaml.sample agree
# (shared/tests/conf-keys.sh).
src=${top_srcdir:-.}
. "$src/shared/tests/conf-keys.sh"
conf_keys "$src/clearinghouse/ch_conf.c" "$src/docs/clearinghouse.yaml.5" \
    "$src/clearinghouse/clearinghouse.yaml.sample"

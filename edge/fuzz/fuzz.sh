#!/bin/sh
# fuzz.sh: the edge's fuzz harnesses (edge/fuzz/corpus/NAME), run by
# shared/fuzz/fuzz.sh.
FUZZ_DIR=edge/fuzz exec sh "${top_srcdir:-.}/shared/fuzz/fuzz.sh"

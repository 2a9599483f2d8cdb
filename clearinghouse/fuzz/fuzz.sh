#!/bin/sh
# fuzz.sh: the clearinghouse's fuzz harnesses
# (clearinghouse/fuzz/corpus/NAME), run by shared/fuzz/fuzz.sh.
FUZZ_DIR=clearinghouse/fuzz exec sh "${top_srcdir:-.}/shared/fuzz/fuzz.sh"

#!/bin/sh
# fuzz.sh: the PHR client's fuzz harnesses (phr-client/fuzz/corpus/NAME),
# run by shared/fuzz/fuzz.sh.
FUZZ_DIR=phr-client/fuzz exec sh "${top_srcdir:-.}/shared/fuzz/fuzz.sh"

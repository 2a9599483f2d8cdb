# dcm-recon.sh: what a reconciled import (dcm_shim.cc rewrite_ids) leaves
# in an instance, checked by test_import.sh and by isn-testnet's clinical
# scenario (POSIX sh functions; dcmdump from DCMTK).
#
#   recon_norm FILE            the dump but for the meta header and what
#                              reconciliation replaces (PatientID,
#                              IssuerOfPatientID, AccessionNumber) or adds
#                              (Other Patient IDs, Original Attributes
#                              Sequence): pixel data and UIDs in full
#   recon_recorded FILE PID ACC  its Original Attributes Sequence holds the
#                              sender's PID and ACC, a coercion by isn-edge,
#                              dated

recon_norm() {
	dcmdump -q +L "$1" | grep -v -e "^(0002," -e "^(0010,0020)" \
	    -e "^(0010,0021)" -e "^(0008,0050)" |
	    sed -e "/^(0010,1002)/,/^(fffe,e0dd)/d" \
	        -e "/^(0400,0561)/,/^(fffe,e0dd)/d"
}

recon_recorded() {
	_recon=$(dcmdump -q "$1" | sed -n "/^(0400,0561)/,/^(fffe,e0dd)/p") ||
	    return 1
	for _re in "(0010,0020) LO \\[$2\\]" "(0008,0050) SH \\[$3\\]" \
	    "(0400,0565) CS \\[COERCE\\]" "(0400,0563) LO \\[isn-edge\\]" \
	    "(0400,0562) DT \\[20[0-9]\\{12\\}\\]"; do
		grep -q "$_re" <<RECON || return 1
$_recon
RECON
	done
}

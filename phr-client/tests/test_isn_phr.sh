#!/bin/sh
# test_isn_phr.sh: isn-phr rsna-id as a patient or PHR developer uses it.
phr=${top_builddir:-.}/phr-client/isn-phr
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# expect NAME STATUS STDOUT ARGS...: exit status and whole standard output.
expect() {
	name=$1 want_rc=$2 want_out=$3; shift 3
	out=$("$phr" "$@" 2>/tmp/isn-phr-err.$$ </dev/null); rc=$?
	if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then ok "$name"
	else nok "$name"; echo "#   rc=$rc out=[$out] err=[$(cat /tmp/isn-phr-err.$$)]"; fi
}
# expect_err NAME MESSAGE ARGS...: status 2 and exactly one line on stderr.
expect_err() {
	name=$1 want=$2; shift 2
	out=$("$phr" "$@" 2>&1 >/dev/null </dev/null); rc=$?
	if [ "$rc" = 2 ] && [ "$out" = "isn-phr: $want" ]; then ok "$name"
	else nok "$name"; echo "#   rc=$rc stderr=[$out]"; fi
}

rsna=9652fef890fe9b5de17f2116e971f153d7d655c3b57fef6012a2138239e34d20
expect "rsna-token vector (RSNA's Trial S key)" 0 $rsna \
	rsna-id --scheme rsna-token --token fpzddg --dob 1946-02-01 --password quackquack
expect "legacy 6-character token in upper case with a dash" 0 $rsna \
	rsna-id --scheme rsna-token --token FPZ-DDG --dob 19460201 --password quackquack
expect "isn2 is the default scheme; no key unless asked" 0 83f59bf2b530007175cd5fb00f8dfc7f \
	rsna-id --token "abcd efgh" --dob 1946-02-01 --password quackquack
expect "--show-key prints the content key" 0 "83f59bf2b530007175cd5fb00f8dfc7f
3f4aacc17cd25e14c8b2235f30a1f923efd60270f5a184c1ad0277ae29614e21" \
	rsna-id --scheme isn2 --token ABCD-EFGH --dob 1946-02-01 --password quackquack --show-key
expect "--cx prints the patient ID as HL7 and XDS carry it" 0 \
	"83f59bf2b530007175cd5fb00f8dfc7f^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO" \
	rsna-id --token abcd-efgh --dob 1946-02-01 --password quackquack --cx
expect "access code vector" 0 060d797c491e3d4d2c2e9db670829f13c2f04d04eee81c7ec1694c24e9d4dc28 \
	rsna-id --scheme rsna-access-code --access-code rps-hna-f3m --dob 1946-02-01

pwf=$(mktemp); printf 'quackquack\n' > "$pwf"
expect "password from a file, newline dropped" 0 83f59bf2b530007175cd5fb00f8dfc7f \
	rsna-id --token abcd-efgh --dob 1946-02-01 --password-file "$pwf"
out=$(printf 'quackquack\n' | "$phr" rsna-id --token abcd-efgh --dob 1946-02-01 --password-file -)
[ "$out" = 83f59bf2b530007175cd5fb00f8dfc7f ] && ok "password from standard input" || nok "password from standard input"
rm -f "$pwf"
out=$(ISN_PW=quackquack "$phr" rsna-id --token abcd-efgh --dob 1946-02-01 --password-env ISN_PW)
[ "$out" = 83f59bf2b530007175cd5fb00f8dfc7f ] && ok "password from an environment variable" || nok "password from an environment variable"
expect_err "an unset password variable" "the environment variable ISN_NO_SUCH is not set" \
	rsna-id --token abcd-efgh --dob 1946-02-01 --password-env ISN_NO_SUCH
expect_err "two password sources" "give one of --password, --password-file and --password-env" \
	rsna-id --token abcd-efgh --dob 1946-02-01 --password x --password-env ISN_PW

expect_err "a date that is not a date" \
	"date of birth must be a real date written YYYY-MM-DD or YYYYMMDD" \
	rsna-id --token abcd-efgh --dob 1946-02-30 --password x
expect_err "a token outside the z-base-32 alphabet" \
	"token has a character outside the z-base-32 alphabet (ybndrfg8ejkmcpqxot1uwisza345h769)" \
	rsna-id --token abcd-efgl --dob 1946-02-01 --password x
expect_err "an isn2 token that is not 8 characters" \
	"token must have 8 characters, not 6" \
	rsna-id --token fpzddg --dob 1946-02-01 --password x
expect_err "an access code with a bad check character" \
	"access code check character does not match (mistyped?)" \
	rsna-id --scheme rsna-access-code --access-code rps-hna-f3a --dob 1946-02-01
expect_err "an unknown scheme" \
	"unknown scheme \"isn3\": use isn2, rsna-token or rsna-access-code" \
	rsna-id --scheme isn3 --token abcd-efgh --dob 1946-02-01 --password x
expect_err "no date of birth" "--dob is needed" rsna-id --token abcd-efgh --password x
expect_err "a token given to the access-code scheme" \
	"the rsna-access-code scheme takes --access-code (and no --token)" \
	rsna-id --scheme rsna-access-code --token abcd-efgh --dob 1946-02-01
expect_err "no password and nothing on standard input" \
	"could not read the password from standard input" \
	rsna-id --token abcd-efgh --dob 1946-02-01
expect_err "an unknown command" "unknown command \"fetch\" (isn-phr --help lists them)" fetch

# list and retrieve: what is checked before any connection.
expect_err "retrieve without --out" "--out DIR is needed" \
	retrieve --url https://127.0.0.1:1 --token abcd-efgh --dob 1946-02-01
expect_err "no connection" "give --url (with --ca, --cert and --key) or --profile" \
	list --token abcd-efgh --dob 1946-02-01
expect_err "--out is not an option of list" "--out is an option of retrieve" \
	list --url https://127.0.0.1:1 --out x --token abcd-efgh --dob 1946-02-01
out=$("$phr" list --url https://127.0.0.1:1 --password x --token abcd-efgh \
	--dob 1946-02-01 2>&1 </dev/null); rc=$?
[ $rc = 2 ] && ok "list takes no password on the command line" ||
	nok "list takes no password on the command line ($rc: $out)"
expect_err "plain http is refused" "the clearinghouse URL must start with https://" \
	list --url http://127.0.0.1:1 --token abcd-efgh --dob 1946-02-01 --password-env HOME
expect_err "a missing profile names the file" \
	"/nonexistent/phr.yaml: could not open file: No such file or directory" \
	list --profile /nonexistent/phr.yaml --token abcd-efgh --dob 1946-02-01 --password-env HOME
"$phr" list --help | grep -q -- "--profile FILE" && ok "list --help shows its options" || nok "list --help"
"$phr" --help | grep -q "rsna-id" && ok "--help lists rsna-id" || nok "--help lists rsna-id"
"$phr" rsna-id --help | grep -q -- "--show-key" && ok "rsna-id --help shows its options" || nok "rsna-id --help"
rm -f /tmp/isn-phr-err.$$
echo "1..$n"
[ $failed = 0 ]

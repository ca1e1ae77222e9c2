# ---- what follows is the same in every script oc sts writes ----------------
# The AWS CLI's own settings apply (AWS_PROFILE, credentials, AWS_ENDPOINT_URL
# and AWS_ENDPOINT_URL_<SERVICE> for CLI v1 >= 1.29 and v2 >= 2.13); the
# region is given on every call, as CLI v1 ignores AWS_REGION.
export AWS_PAGER='' AWS_CLI_AUTO_PROMPT=off          # CLI v2 would page or prompt
export AWS_STS_REGIONAL_ENDPOINTS="${AWS_STS_REGIONAL_ENDPOINTS:-regional}"
export AWS_RETRY_MODE="${AWS_RETRY_MODE:-standard}" # throttling, 5xx and dropped
export AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-10}"   # connections: retried with backoff
ERRFILE=$(mktemp "${TMPDIR:-/tmp}/oc-sts.XXXXXX")
trap 'rm -f "$ERRFILE"' EXIT
MADE=''

say() { printf '%s\n' "$*" >&2; }

# die stops the script; once it has changed AWS, it says what it made.
die() {
	printf 'error: %s\n' "$*" >&2
	if [ -n "$MADE" ]; then
		printf 'Made in AWS before it stopped:%s\nRun %s again once that is fixed: it goes on from where it stopped.\n' "$MADE" "$0" >&2
	fi
	exit 1
}

made() { MADE="$MADE
  $*"; }

# call runs one aws command with the plan's region. OUT is its output (text,
# or JSON with call_json); on failure CODE is AWS's error code (or CLIError)
# and MSG the CLI's message.
call() { call_as text "$@"; }
call_json() { call_as json "$@"; }
call_as() {
	local format=$1
	shift
	CODE='' MSG=''
	if OUT=$(aws "$@" --region "$REGION" --output "$format" 2>"$ERRFILE"); then
		return 0
	fi
	MSG=$(tr -s '\n' ' ' <"$ERRFILE")
	CODE=$(sed -n 's/.*An error occurred (\([^)]*\)).*/\1/p' "$ERRFILE" | head -n 1)
	CODE=${CODE:-CLIError}
	return 1
}

# Values reach the CLI's --query (JMESPath) only as literals: jlit makes one
# of JSON text, jstr one of any string.
jlit() {
	local s=$1
	printf '`%s`' "${s//\`/\\\`}"
}
jesc() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	s=${s//$'\r'/\\r}
	printf '"%s"' "$s"
}
jstr() { jlit "$(jesc "$1")"; }
is_true() { [ "$1" = True ] || [ "$1" = true ]; }

# has_tags is a query: does the tag list at path hold every tag of $2 (JSON)?
has_tags() {
	local want
	want=$(jlit "$2")
	printf 'length(%s) == length((%s || `[]`)[?contains(%s, @)])' "$want" "$1" "$want"
}

# guard stops before anything is read or changed unless the credentials
# are for the plan's account and partition.
guard() {
	call sts get-caller-identity --query '[Account, Arn]' ||
		die "cannot tell whose AWS credentials these are (aws sts get-caller-identity): $MSG"
	local account arn partition
	read -r account arn <<<"$OUT"
	partition=${arn#arn:}
	partition=${partition%%:*}
	if [ "$account" != "$ACCOUNT" ] || [ "$partition" != "$PARTITION" ]; then
		die "the AWS credentials are for account $account ($arn), but this plan is for account $ACCOUNT in partition $PARTITION: nothing was changed; run it with credentials of account $ACCOUNT (e.g. AWS_PROFILE=...)"
	fi
	say "AWS account $ACCOUNT ($arn), region $REGION"
}

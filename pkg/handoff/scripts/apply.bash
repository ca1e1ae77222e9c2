# ---- apply: observe everything, stop on any conflict, then change what differs

N_OBJ=0
N_ROLE=0

# The plan's resources, registered by the lines at the end of the script.
bucket() { B_NAME=$1 B_TAGS=$2 B_BLOCK=$3 B_POLICY=$4; }
object() {
	O_KEY[N_OBJ]=$1 O_FILE[N_OBJ]=$2 O_TYPE[N_OBJ]=$3 O_ETAG[N_OBJ]=$4 O_MODE[N_OBJ]=$5
	N_OBJ=$((N_OBJ + 1))
}
provider() {
	P_ARN=$1 P_URL=$2 P_TAGS=$3 P_AUDIENCE=$4
	shift 4
	P_IDS=("$@")
}
role() {
	R_NAME[N_ROLE]=$1 R_PATH[N_ROLE]=$2 R_TRUST[N_ROLE]=$3 R_PNAME[N_ROLE]=$4 R_PFILE[N_ROLE]=$5
	R_TAGS[N_ROLE]=$6 R_BOUNDARY[N_ROLE]=$7 R_DESC[N_ROLE]=$8
	N_ROLE=$((N_ROLE + 1))
}

public_issuer() {
	set -- $B_BLOCK
	[ "$3" = false ]
}
rerender() { printf 'render the plan again with another --name (oc sts prepare --name)'; }

# check_account_block reads the account-level S3 Block Public Access, which
# overrides the bucket's own, before any change.
check_account_block() {
	A_POLICY=False
	local restrict=False
	if call s3control get-public-access-block --account-id "$ACCOUNT" \
		--query 'PublicAccessBlockConfiguration.[BlockPublicPolicy,RestrictPublicBuckets]'; then
		read -r A_POLICY restrict <<<"$OUT"
	else
		case $CODE in
		NoSuchPublicAccessBlockConfiguration) ;;
		AccessDenied) say "warning: could not read the S3 Block Public Access settings of account $ACCOUNT (s3:GetAccountPublicAccessBlock is denied): if they block public bucket policies, the bucket policy will be refused" ;;
		*) die "reading the S3 Block Public Access settings of account $ACCOUNT (s3:GetAccountPublicAccessBlock): $MSG" ;;
		esac
	fi
	if is_true "$restrict"; then
		die "the account-level S3 Block Public Access of account $ACCOUNT has RestrictPublicBuckets, which keeps anonymous readers, AWS STS among them, from the discovery documents: render the plan with --private-bucket, or have the block lifted. Nothing was changed."
	fi
}

# check_bucket decides what the bucket needs (B_ACT, B_FIELDS) and stops when
# the name is not ours to use.
check_bucket() {
	local b=$B_NAME state owned tagged loc policy
	B_ACT='' B_FIELDS='' B_STATE=''
	local i=0
	while [ "$i" -lt "$N_OBJ" ]; do O_ACT[i]='' i=$((i + 1)); done
	if call s3api get-bucket-tagging --bucket "$b" --expected-bucket-owner "$ACCOUNT" \
		--query "[contains(TagSet, $(jlit "$OWNED")), $(has_tags TagSet "$B_TAGS")]"; then
		read -r owned tagged <<<"$OUT"
		is_true "$owned" ||
			die "the S3 bucket $b exists without the tag $OWNED_KEY=owned: it is not oc sts's, so it is left alone; delete it, or $(rerender). Nothing was changed."
		state=owned
		is_true "$tagged" || B_FIELDS="$B_FIELDS tags"
	else
		case $CODE in
		NoSuchBucket)
			B_ACT=create B_FIELDS=' tags public-access-block bucket-policy' B_STATE=absent
			i=0
			while [ "$i" -lt "$N_OBJ" ]; do O_ACT[i]=create i=$((i + 1)); done
			return
			;;
		NoSuchTagSet) state=untagged B_FIELDS="$B_FIELDS tags" ;;
		AccessDenied | 403)
			if call s3api list-buckets --query "contains(Buckets[].Name, $(jstr "$b"))" && is_true "$OUT"; then
				die "reading the S3 bucket $b is denied (s3:GetBucketTagging): $MSG"
			fi
			die "the S3 bucket name $b is taken by another AWS account (bucket names are global): $(rerender). Nothing was changed."
			;;
		PermanentRedirect | AuthorizationHeaderMalformed | 301)
			die "the S3 bucket $b exists in another region, but the issuer must be in $REGION: if it is an earlier oc sts issuer, delete it (the delete.sh of that plan, or oc sts destroy --name $NAME --region REGION); else $(rerender). Nothing was changed."
			;;
		*) die "reading the S3 bucket $b (s3:GetBucketTagging): $MSG" ;;
		esac
	fi
	B_STATE=$state
	call s3api get-bucket-location --bucket "$b" --expected-bucket-owner "$ACCOUNT" --query 'LocationConstraint || `"us-east-1"`' ||
		die "reading the region of the S3 bucket $b (s3:GetBucketLocation): $MSG"
	loc=$OUT
	[ "$loc" != EU ] || loc=eu-west-1
	if [ "$loc" != "$REGION" ]; then
		die "the S3 bucket $b is in $loc, but the issuer must be in $REGION: if it is an earlier oc sts issuer, delete it (the delete.sh of that plan, or oc sts destroy --name $NAME --region $loc); else $(rerender). Nothing was changed."
	fi
	if call s3api get-bucket-policy --bucket "$b" --expected-bucket-owner "$ACCOUNT" --query Policy; then
		policy=$OUT
	elif [ "$CODE" = NoSuchBucketPolicy ]; then
		policy=''
	else
		die "reading the policy of the S3 bucket $b (s3:GetBucketPolicy): $MSG"
	fi
	check_objects
	if [ "$state" = untagged ]; then
		# Adopted only when it is what an interrupted run leaves: it creates the
		# bucket, then tags it, then sets it up and uploads the plan's objects.
		if [ "$O_OTHERS" != 0 ] || { [ -n "$policy" ] && [ "$policy" != "$(cat "$B_POLICY")" ]; }; then
			die "the S3 bucket $b exists without the tag $OWNED_KEY=owned and holds other objects or another bucket policy: it is not what an interrupted run leaves, so it is not adopted; delete it, or $(rerender). Nothing was changed."
		fi
	fi
	if call s3api get-public-access-block --bucket "$b" --expected-bucket-owner "$ACCOUNT" \
		--query 'PublicAccessBlockConfiguration.[BlockPublicAcls,IgnorePublicAcls,BlockPublicPolicy,RestrictPublicBuckets]'; then
		[ "$(printf '%s' "$OUT" | tr 'A-Z\t' 'a-z ')" = "$B_BLOCK" ] || B_FIELDS="$B_FIELDS public-access-block"
	elif [ "$CODE" = NoSuchPublicAccessBlockConfiguration ]; then
		B_FIELDS="$B_FIELDS public-access-block"
	else
		die "reading the public access block of the S3 bucket $b (s3:GetBucketPublicAccessBlock): $MSG"
	fi
	[ "$policy" = "$(cat "$B_POLICY")" ] || B_FIELDS="$B_FIELDS bucket-policy"
	[ -z "$B_FIELDS" ] || B_ACT=update
}

# check_objects decides which objects must be uploaded (O_ACT), in one
# listing; a published key set is never replaced by another. O_OTHERS counts
# the objects that are not the plan's, or not with the plan's content.
check_objects() {
	local q="" known="" pair i=0 flags
	while [ "$i" -lt "$N_OBJ" ]; do
		pair="[$(jesc "${O_KEY[i]}"),$(jesc "${O_ETAG[i]}")]"
		known="$known${known:+,}$pair"
		q="$q, contains((Contents || \`[]\`)[].Key, $(jstr "${O_KEY[i]}")), contains((Contents || \`[]\`)[].[Key, ETag], $(jlit "$pair"))"
		i=$((i + 1))
	done
	call s3api list-objects-v2 --bucket "$B_NAME" --expected-bucket-owner "$ACCOUNT" \
		--query "[length((Contents || \`[]\`)[?!contains($(jlit "[$known]"), [Key, ETag])])$q]" ||
		die "listing the objects of the S3 bucket $B_NAME (s3:ListBucket): $MSG"
	read -r -a flags <<<"$OUT"
	O_OTHERS=${flags[0]}
	i=0
	while [ "$i" -lt "$N_OBJ" ]; do
		if ! is_true "${flags[2 * i + 1]}"; then
			O_ACT[i]=create
		elif ! is_true "${flags[2 * i + 2]}"; then
			[ "${O_MODE[i]}" != keep ] ||
				die "s3://$B_NAME/${O_KEY[i]} publishes other signer keys than this plan's: replacing it would make AWS reject every token a running cluster signed with them. Render the plan with that cluster's signer key, or, if no cluster uses them any more, delete the object (aws s3api delete-object --bucket $B_NAME --key ${O_KEY[i]} --region $REGION) and run this again. Nothing was changed."
			O_ACT[i]=update
		fi
		i=$((i + 1))
	done
}

check_provider() {
	local q id i=2 flags
	P_ACT='' P_FIELDS=''
	P_MISSING=()
	q="[contains(Tags || \`[]\`, $(jlit "$OWNED")), $(has_tags Tags "$P_TAGS")"
	for id in "${P_IDS[@]}"; do q="$q, contains(ClientIDList, $(jstr "$id"))"; done
	q="$q, contains(ClientIDList, $(jstr "$P_AUDIENCE"))]"
	if ! call iam get-open-id-connect-provider --open-id-connect-provider-arn "$P_ARN" --query "$q"; then
		[ "$CODE" = NoSuchEntity ] || die "reading the IAM OIDC provider $P_ARN (iam:GetOpenIDConnectProvider): $MSG"
		P_ACT=create
		return
	fi
	read -r -a flags <<<"$OUT"
	if ! is_true "${flags[0]}"; then
		# Someone else's provider for exactly this issuer: reused as it is.
		is_true "${flags[${#flags[@]} - 1]}" ||
			die "the IAM OIDC provider $P_ARN exists, is not oc sts's and lacks the client ID $P_AUDIENCE: add it (aws iam add-client-id-to-open-id-connect-provider) or delete the provider. Nothing was changed."
		say "  reusing the IAM OIDC provider $P_ARN (not oc sts's; it has the client ID $P_AUDIENCE)"
		return
	fi
	for id in "${P_IDS[@]}"; do
		is_true "${flags[i]}" || P_MISSING=(${P_MISSING[@]+"${P_MISSING[@]}"} "$id")
		i=$((i + 1))
	done
	[ "${#P_MISSING[@]}" -eq 0 ] || P_FIELDS="$P_FIELDS client-ids"
	is_true "${flags[1]}" || P_FIELDS="$P_FIELDS tags"
	[ -z "$P_FIELDS" ] || P_ACT=update
}

check_role() {
	local i=$1 q owned path boundary trust tagged
	R_ACT[i]='' R_FIELDS[i]=''
	q="[contains(Role.Tags || \`[]\`, $(jlit "$OWNED")), Role.Path == $(jstr "${R_PATH[i]}")"
	q="$q, (Role.PermissionsBoundary.PermissionsBoundaryArn || \`\"\"\`) == $(jstr "${R_BOUNDARY[i]}")"
	q="$q, Role.AssumeRolePolicyDocument == $(jlit "$(cat "${R_TRUST[i]}")"), $(has_tags Role.Tags "${R_TAGS[i]}")]"
	if ! call iam get-role --role-name "${R_NAME[i]}" --query "$q"; then
		[ "$CODE" = NoSuchEntity ] || die "reading the IAM role ${R_NAME[i]} (iam:GetRole): $MSG"
		R_ACT[i]=create
		return
	fi
	read -r owned path boundary trust tagged <<<"$OUT"
	is_true "$owned" ||
		die "the IAM role ${R_NAME[i]} exists without the tag $OWNED_KEY=owned: it is not oc sts's; delete or rename it, or $(rerender). Nothing was changed."
	R_ACT[i]=update
	if ! is_true "$path"; then
		R_FIELDS[i]=' path' # a path cannot change: the role is made again
		return
	fi
	is_true "$trust" || R_FIELDS[i]="${R_FIELDS[i]} trust-policy"
	is_true "$boundary" || R_FIELDS[i]="${R_FIELDS[i]} permissions-boundary"
	is_true "$tagged" || R_FIELDS[i]="${R_FIELDS[i]} tags"
	if call iam get-role-policy --role-name "${R_NAME[i]}" --policy-name "${R_PNAME[i]}" \
		--query "PolicyDocument == $(jlit "$(cat "${R_PFILE[i]}")")"; then
		is_true "$OUT" || R_FIELDS[i]="${R_FIELDS[i]} policy"
	elif [ "$CODE" = NoSuchEntity ]; then
		R_FIELDS[i]="${R_FIELDS[i]} policy"
	else
		die "reading the inline policy ${R_PNAME[i]} of the IAM role ${R_NAME[i]} (iam:GetRolePolicy): $MSG"
	fi
	[ -n "${R_FIELDS[i]}" ] || R_ACT[i]=''
}

# fields lists the words of $1 as prepare does: "tags, policy".
fields() {
	local f=${1# }
	printf '%s' "${f// /, }"
}

# change prints one planned change as prepare does: + create, ~ update.
CHANGES=0
change() {
	local act=$1 kind=$2 name=$3
	[ -n "$act" ] || return 0
	CHANGES=$((CHANGES + 1))
	if [ "$act" = create ]; then
		say "  + $kind $name"
	else
		say "  ~ $kind $name ($(fields "${4-}"))"
	fi
}

# eventually makes a call IAM refuses while what was just made propagates
# (IAM is eventually consistent): on an error matching pattern it retries
# with backoff, 7 times over about 40 s.
eventually() {
	local what=$1 pattern=$2 try=1 delay=1
	shift 2
	while ! call "$@"; do
		# shellcheck disable=SC2254
		case "$CODE: $MSG" in
		$pattern) ;;
		*) return 1 ;;
		esac
		[ "$try" -le 7 ] || return 1
		say "  IAM has not propagated $what yet ($2: $CODE); retry $try of 7 in ${delay}s"
		sleep "$delay"
		try=$((try + 1))
		[ "$delay" -ge 8 ] || delay=$((delay * 2))
	done
}

make_bucket() {
	local b=$B_NAME f merged
	[ -n "$B_ACT" ] || return 0
	if [ "$B_ACT" = create ]; then
		say "  creating S3 bucket $b"
		if [ "$REGION" = us-east-1 ]; then
			call s3api create-bucket --bucket "$b"
		else
			call s3api create-bucket --bucket "$b" --create-bucket-configuration "LocationConstraint=$REGION"
		fi || case $CODE in
		BucketAlreadyOwnedByYou) ;;
		BucketAlreadyExists) die "creating the S3 bucket $b: the name is taken by another AWS account; $(rerender)" ;;
		*) die "creating the S3 bucket $b (s3:CreateBucket): $MSG" ;;
		esac
		made "+ s3-bucket $b"
	else
		say "  updating S3 bucket $b ($(fields "$B_FIELDS"))"
	fi
	for f in tags public-access-block bucket-policy; do # the public policy needs the block relaxed first
		case " $B_FIELDS " in *" $f "*) ;; *) continue ;; esac
		case $f in
		tags)
			merged=$B_TAGS
			if [ "$B_STATE" = owned ]; then # keep the tags others set
				call_json s3api get-bucket-tagging --bucket "$b" --expected-bucket-owner "$ACCOUNT" \
					--query "TagSet[?!contains($(jlit "$B_TAGS")[].Key, Key)]" ||
					die "reading the tags of the S3 bucket $b (s3:GetBucketTagging): $MSG"
				[ "$OUT" = '[]' ] || merged="${OUT%]},${B_TAGS#[}"
			fi
			call s3api put-bucket-tagging --bucket "$b" --expected-bucket-owner "$ACCOUNT" --tagging "{\"TagSet\":$merged}" ||
				die "tagging the S3 bucket $b (s3:PutBucketTagging): $MSG"
			;;
		public-access-block)
			set -- $B_BLOCK
			call s3api put-public-access-block --bucket "$b" --expected-bucket-owner "$ACCOUNT" \
				--public-access-block-configuration "BlockPublicAcls=$1,IgnorePublicAcls=$2,BlockPublicPolicy=$3,RestrictPublicBuckets=$4" ||
				die "setting the public access block of the S3 bucket $b (s3:PutBucketPublicAccessBlock): $MSG"
			;;
		bucket-policy)
			if ! call s3api put-bucket-policy --bucket "$b" --expected-bucket-owner "$ACCOUNT" --policy "file://$B_POLICY"; then
				case $MSG in
				*BlockPublicPolicy*) die "setting the public bucket policy of the S3 bucket $b: S3 Block Public Access (BlockPublicPolicy, of the account or the bucket) refuses it: render the plan with --private-bucket, or have the block lifted ($MSG)" ;;
				esac
				die "setting the policy of the S3 bucket $b (s3:PutBucketPolicy): $MSG"
			fi
			;;
		esac
	done
	[ "$B_ACT" = create ] || made "~ s3-bucket $b ($(fields "$B_FIELDS"))"
}

make_object() {
	local i=$1
	[ -n "${O_ACT[i]}" ] || return 0
	say "  uploading s3://$B_NAME/${O_KEY[i]}"
	call s3api put-object --bucket "$B_NAME" --key "${O_KEY[i]}" --body "${O_FILE[i]}" \
		--content-type "${O_TYPE[i]}" --expected-bucket-owner "$ACCOUNT" ||
		die "uploading s3://$B_NAME/${O_KEY[i]} (s3:PutObject): $MSG"
	if [ "${O_ACT[i]}" = create ]; then made "+ s3-object ${O_KEY[i]}"; else made "~ s3-object ${O_KEY[i]} (content)"; fi
}

make_provider() {
	local id
	case $P_ACT in
	create)
		say "  creating IAM OIDC provider for $P_URL"
		call iam create-open-id-connect-provider --url "$P_URL" --client-id-list "${P_IDS[@]}" --tags "$P_TAGS" ||
			[ "$CODE" = EntityAlreadyExists ] || # made by an interrupted run: checked by the next one
			die "creating the IAM OIDC provider for $P_URL (iam:CreateOpenIDConnectProvider): $MSG"
		made "+ iam-oidc-provider $P_ARN"
		;;
	update)
		say "  updating IAM OIDC provider $P_ARN ($(fields "$P_FIELDS"))"
		for id in ${P_MISSING[@]+"${P_MISSING[@]}"}; do
			call iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn "$P_ARN" --client-id "$id" ||
				die "adding the client ID $id to $P_ARN (iam:AddClientIDToOpenIDConnectProvider): $MSG"
		done
		case $P_FIELDS in
		*tags*) call iam tag-open-id-connect-provider --open-id-connect-provider-arn "$P_ARN" --tags "$P_TAGS" ||
			die "tagging $P_ARN (iam:TagOpenIDConnectProvider): $MSG" ;;
		esac
		made "~ iam-oidc-provider $P_ARN ($(fields "$P_FIELDS"))"
		;;
	esac
}

# remove_role deletes a role of ours with its policies (to re-create it under another path).
remove_role() {
	local r=$1 p
	call iam list-role-policies --role-name "$r" --query PolicyNames || die "listing the policies of $r (iam:ListRolePolicies): $MSG"
	for p in $OUT; do
		call iam delete-role-policy --role-name "$r" --policy-name "$p" || [ "$CODE" = NoSuchEntity ] ||
			die "deleting the policy $p of $r (iam:DeleteRolePolicy): $MSG"
	done
	call iam list-attached-role-policies --role-name "$r" --query 'AttachedPolicies[].PolicyArn' ||
		die "listing the managed policies of $r (iam:ListAttachedRolePolicies): $MSG"
	for p in $OUT; do
		[ "$p" = None ] || call iam detach-role-policy --role-name "$r" --policy-arn "$p" || [ "$CODE" = NoSuchEntity ] ||
			die "detaching $p from $r (iam:DetachRolePolicy): $MSG"
	done
	call iam delete-role --role-name "$r" || [ "$CODE" = NoSuchEntity ] || die "deleting $r (iam:DeleteRole): $MSG"
}

make_role() {
	local i=$1 r=${R_NAME[$1]} fields f
	local invalid='MalformedPolicyDocument:*Invalid principal*' unseen='NoSuchEntity:*'
	[ -n "${R_ACT[i]}" ] || return 0
	fields=${R_FIELDS[i]}
	if [ "$fields" = ' path' ]; then
		say "  re-creating IAM role $r under path ${R_PATH[i]}"
		remove_role "$r"
		R_ACT[i]=create
	fi
	if [ "${R_ACT[i]}" = create ]; then
		say "  creating IAM role $r"
		local args=(iam create-role --role-name "$r" --path "${R_PATH[i]}" --description "${R_DESC[i]}"
			--assume-role-policy-document "file://${R_TRUST[i]}" --tags "${R_TAGS[i]}")
		[ -z "${R_BOUNDARY[i]}" ] || args+=(--permissions-boundary "${R_BOUNDARY[i]}")
		eventually "the new OIDC provider" "$invalid" "${args[@]}" || [ "$CODE" = EntityAlreadyExists ] ||
			die "creating the IAM role $r (iam:CreateRole): $MSG"
		made "+ iam-role $r"
		fields=' policy'
	else
		say "  updating IAM role $r ($(fields "$fields"))"
	fi
	for f in $fields; do
		case $f in
		trust-policy)
			eventually "the OIDC provider" "$invalid" iam update-assume-role-policy --role-name "$r" \
				--policy-document "file://${R_TRUST[i]}" || die "setting the trust policy of $r (iam:UpdateAssumeRolePolicy): $MSG"
			;;
		policy)
			eventually "the new role" "$unseen" iam put-role-policy --role-name "$r" --policy-name "${R_PNAME[i]}" \
				--policy-document "file://${R_PFILE[i]}" || die "setting the inline policy of $r (iam:PutRolePolicy): $MSG"
			;;
		permissions-boundary)
			if [ -n "${R_BOUNDARY[i]}" ]; then
				call iam put-role-permissions-boundary --role-name "$r" --permissions-boundary "${R_BOUNDARY[i]}"
			else
				call iam delete-role-permissions-boundary --role-name "$r"
			fi || die "setting the permissions boundary of $r: $MSG"
			;;
		tags)
			call iam tag-role --role-name "$r" --tags "${R_TAGS[i]}" || die "tagging $r (iam:TagRole): $MSG"
			;;
		esac
	done
	[ "${R_ACT[i]}" = create ] || made "~ iam-role $r ($(fields "$fields"))"
}

converge() {
	local dry=no i
	case ${1-} in
	--dry-run) dry=yes ;;
	'') ;;
	*) die "usage: $0 [--dry-run]" ;;
	esac
	guard
	say "Comparing AWS with the plan for $ISSUER..."
	! public_issuer || check_account_block
	check_bucket
	check_provider
	i=0
	while [ "$i" -lt "$N_ROLE" ]; do check_role "$i"; i=$((i + 1)); done
	case $B_FIELDS in
	*bucket-policy*) if public_issuer && is_true "$A_POLICY"; then
		die "the account-level S3 Block Public Access of account $ACCOUNT has BlockPublicPolicy, which refuses the bucket policy that lets anyone read the discovery documents: render the plan with --private-bucket, or have the block lifted. Nothing was changed."
	fi ;;
	esac

	change "$B_ACT" s3-bucket "$B_NAME" "$B_FIELDS"
	i=0
	while [ "$i" -lt "$N_OBJ" ]; do change "${O_ACT[i]}" s3-object "${O_KEY[i]}" ' content'; i=$((i + 1)); done
	change "$P_ACT" iam-oidc-provider "$P_ARN" "$P_FIELDS"
	i=0
	while [ "$i" -lt "$N_ROLE" ]; do change "${R_ACT[i]}" iam-role "${R_NAME[i]}" "${R_FIELDS[i]}"; i=$((i + 1)); done
	if [ "$CHANGES" -eq 0 ]; then
		printf 'AWS already matches the plan: nothing to change.\n'
		return
	fi
	if [ "$dry" = yes ]; then
		printf '%s changes to make (--dry-run: nothing was changed).\n' "$CHANGES"
		return
	fi
	say "Applying:"
	make_bucket
	i=0
	while [ "$i" -lt "$N_OBJ" ]; do make_object "$i"; i=$((i + 1)); done
	make_provider
	i=0
	while [ "$i" -lt "$N_ROLE" ]; do make_role "$i"; i=$((i + 1)); done
	printf 'AWS account %s matches the plan: issuer %s, OIDC provider %s, %s roles (%s changes made).\n' \
		"$ACCOUNT" "$ISSUER" "$P_ARN" "$N_ROLE" "$CHANGES"
}

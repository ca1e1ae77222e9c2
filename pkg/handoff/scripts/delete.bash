# ---- delete: find what carries the ownership tag, confirm, delete it --------

D_ROLES='' D_PROVIDERS='' D_BUCKET='' D_COUNT=0

found() {
	say "  - $1 $2"
	D_COUNT=$((D_COUNT + 1))
}

# find_roles lists the roles tagged as ours, in one paged call where it is
# allowed, else by the roles named like ours and one read each.
find_roles() {
	local r
	if call iam get-account-authorization-details --filter Role \
		--query "RoleDetailList[?contains(Tags || \`[]\`, $(jlit "$OWNED"))].RoleName"; then
		D_ROLES=$OUT
	else
		[ "$CODE" = AccessDenied ] || die "listing the IAM roles (iam:GetAccountAuthorizationDetails): $MSG"
		call iam list-roles --query "Roles[?starts_with(RoleName, $(jstr "$NAME-"))].RoleName" ||
			die "listing the IAM roles (iam:ListRoles): $MSG"
		for r in $OUT; do
			call iam get-role --role-name "$r" --query "contains(Role.Tags || \`[]\`, $(jlit "$OWNED"))" ||
				die "reading the IAM role $r (iam:GetRole): $MSG"
			! is_true "$OUT" || D_ROLES="$D_ROLES $r"
		done
	fi
	for r in $D_ROLES; do found iam-role "$r"; done
}

find_providers() {
	local arn list
	call iam list-open-id-connect-providers --query 'OpenIDConnectProviderList[].Arn' ||
		die "listing the IAM OIDC providers (iam:ListOpenIDConnectProviders): $MSG"
	list=$OUT
	for arn in $list; do
		[ "$arn" != None ] || continue
		call iam get-open-id-connect-provider --open-id-connect-provider-arn "$arn" \
			--query "contains(Tags || \`[]\`, $(jlit "$OWNED"))" || die "reading $arn (iam:GetOpenIDConnectProvider): $MSG"
		is_true "$OUT" || continue
		D_PROVIDERS="$D_PROVIDERS $arn"
		found iam-oidc-provider "$arn"
	done
}

find_bucket() {
	if call s3api get-bucket-tagging --bucket "$BUCKET" --expected-bucket-owner "$ACCOUNT" --query "contains(TagSet, $(jlit "$OWNED"))"; then
		is_true "$OUT" || return 0
		D_BUCKET=$BUCKET
		found s3-bucket "$BUCKET (and its objects)"
		return
	fi
	case $CODE in
	NoSuchBucket | NoSuchTagSet | AccessDenied | 403) ;; # none, not ours, or another account's
	PermanentRedirect | AuthorizationHeaderMalformed | 301)
		die "the S3 bucket $BUCKET is in another region than $REGION: nothing was deleted; delete it with oc sts destroy --name $NAME --region REGION" ;;
	*) die "reading the S3 bucket $BUCKET (s3:GetBucketTagging): $MSG" ;;
	esac
}

delete_roles() {
	local r p
	for r in $D_ROLES; do
		say "  deleting IAM role $r"
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
		call iam delete-role --role-name "$r" || [ "$CODE" = NoSuchEntity ] || die "deleting the IAM role $r (iam:DeleteRole): $MSG"
		made "- iam-role $r"
	done
}

delete_providers() {
	local arn
	for arn in $D_PROVIDERS; do
		say "  deleting IAM OIDC provider $arn"
		call iam delete-open-id-connect-provider --open-id-connect-provider-arn "$arn" || [ "$CODE" = NoSuchEntity ] ||
			die "deleting $arn (iam:DeleteOpenIDConnectProvider): $MSG"
		made "- iam-oidc-provider $arn"
	done
}

delete_bucket() {
	local b=$D_BUCKET
	[ -n "$b" ] || return 0
	say "  deleting S3 bucket $b and its objects"
	while :; do # at most 1000 keys per DeleteObjects call
		call_json s3api list-objects-v2 --bucket "$b" --expected-bucket-owner "$ACCOUNT" --max-items 1000 \
			--query '{Objects: Contents[].{Key: Key}, Quiet: `true`}' || die "listing the objects of $b (s3:ListBucket): $MSG"
		case $OUT in *'"Objects": null'*) break ;; esac
		call s3api delete-objects --bucket "$b" --expected-bucket-owner "$ACCOUNT" --delete "$OUT" --query 'length(Errors || `[]`)' ||
			die "deleting the objects of $b (s3:DeleteObject): $MSG"
		[ "$OUT" = 0 ] || die "S3 refused to delete $OUT objects of $b"
	done
	call s3api delete-bucket --bucket "$b" --expected-bucket-owner "$ACCOUNT" || [ "$CODE" = NoSuchBucket ] ||
		die "deleting the S3 bucket $b (s3:DeleteBucket): $MSG"
	made "- s3-bucket $b"
}

delete_all() {
	local yes=no dry=no a answer
	for a in "$@"; do
		case $a in
		--yes | -y) yes=yes ;;
		--dry-run) dry=yes ;;
		*) die "usage: $0 [--yes] [--dry-run]" ;;
		esac
	done
	guard
	say "Looking for what carries the tag $OWNED_KEY=owned..."
	find_roles
	find_providers
	find_bucket
	if [ "$D_COUNT" -eq 0 ]; then
		printf 'Nothing in AWS account %s carries the tag %s=owned: nothing to delete.\n' "$ACCOUNT" "$OWNED_KEY"
		return
	fi
	if [ "$dry" = yes ]; then
		printf '%s resources to delete (--dry-run: nothing was deleted).\n' "$D_COUNT"
		return
	fi
	if [ "$yes" != yes ]; then
		[ -t 0 ] || die "stdin is not a terminal: add --yes to delete these $D_COUNT resources (nothing was deleted)"
		read -r -p "Delete these $D_COUNT resources from AWS account $ACCOUNT? [y/N] " answer
		case $answer in y | Y | yes) ;; *) die "nothing was deleted" ;; esac
	fi
	say "Deleting:"
	delete_roles
	delete_providers
	delete_bucket
	printf 'Deleted %s resources: nothing in AWS account %s carries the tag %s=owned any more.\n' "$D_COUNT" "$ACCOUNT" "$OWNED_KEY"
}

package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

const (
	maxRoleName   = 64
	maxBucketName = 63
	bucketSuffix  = "-oidc"
	roleHashLen   = 8
)

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
	roleNameRE  = regexp.MustCompile(`^[\w+=,.@-]+$`)
	rolePathRE  = regexp.MustCompile(`^/([\x21-\x7E]*/)?$`)
	maxNameLen  = maxBucketName - len(bucketSuffix)
	tagKeyRE    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	tagValueRE  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)
	maxRolePath = 512
)

// BucketName is the S3 bucket holding the discovery documents of name.
func BucketName(name string) string { return name + bucketSuffix }

// ValidateName checks the name that prefixes every AWS resource (an S3
// bucket name among them).
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("--name is empty: give the name that prefixes every AWS resource (usually the cluster name)")
	case len(name) > maxNameLen:
		return fmt.Errorf("--name %q is %d characters: the OIDC bucket %q would exceed S3's %d-character limit; use at most %d characters", name, len(name), BucketName(name), maxBucketName, maxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("--name %q: use lowercase letters, digits and '-', starting and ending with a letter or digit (it names an S3 bucket)", name)
	}
	return nil
}

// RoleName is <name>-<namespace>-<secret>, cut to IAM's 64 characters with a
// hash of the full name appended, so two requests never share a role.
func RoleName(name, namespace, secret string) string {
	full := fmt.Sprintf("%s-%s-%s", name, namespace, secret)
	if len(full) <= maxRoleName {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	return full[:maxRoleName-roleHashLen-1] + "-" + hex.EncodeToString(sum[:])[:roleHashLen]
}

package plan

// CheckRole checks a role computed outside Build (a day-2 operator's)
// against the same IAM limits as prepare's roles.
func CheckRole(r Role) error { return checkRoleLimits(r) }

// ValidateTags checks user tags as prepare's --tag are checked.
func ValidateTags(name string, tags map[string]string) error { return validateTags(name, tags) }

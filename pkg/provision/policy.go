package provision

import (
	"encoding/json"
	"reflect"
	"sort"
)

// SamePolicy compares two policy documents as AWS means them: key order,
// whitespace, the order of string lists and a lone string versus a
// one-element list do not matter.
func SamePolicy(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(normalize(x), normalize(y))
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case []any:
		strs := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				for i := range t {
					t[i] = normalize(t[i])
				}
				return t
			}
			strs = append(strs, s)
		}
		if len(strs) == 1 {
			return strs[0]
		}
		sort.Strings(strs)
		out := make([]any, len(strs))
		for i, s := range strs {
			out[i] = s
		}
		return out
	}
	return v
}
